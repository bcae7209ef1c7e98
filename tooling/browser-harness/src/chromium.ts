import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

// Debian's package (tooling/setup.sh installs it); Playwright's own browser downloads are not used.
export const CHROMIUM_PATH = '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  // Nothing may leave the machine: pages come from loopback and the browser phones nowhere.
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Whether browser tests can run here. Without Chromium they are skipped with a note on stderr,
 * except under CI=true, where `launchChromium` fails them instead.
 */
export function chromiumAvailable(what: string): boolean {
  const available = existsSync(CHROMIUM_PATH);
  if (!available && process.env['CI'] !== 'true') {
    process.stderr.write(`skipped: ${what}: no ${CHROMIUM_PATH} (apt-get install -y chromium)\n`);
  }
  return available || process.env['CI'] === 'true';
}

/** Headless Chromium; `webgpu` exposes navigator.gpu (SwiftShader or the machine's adapter). */
export async function launchChromium(options: { webgpu?: boolean } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`browser tests need Chromium at ${CHROMIUM_PATH}: apt-get install -y chromium`);
  }
  const args = options.webgpu ? [...CHROMIUM_ARGS, '--enable-unsafe-webgpu'] : CHROMIUM_ARGS;
  return chromium.launch({ executablePath: CHROMIUM_PATH, args });
}
