export { CHROMIUM_PATH, chromiumAvailable, launchChromium } from './chromium.js';
export type { Browser, Page } from 'playwright-core';
export { javascript, modulePage, serveLoopback, type LoopbackServer, type Route } from './loopback-server.js';
export { bundleForBrowser, type BrowserBundleOptions } from './bundle-entry.js';
