import { javascript, launchChromium, modulePage, serveLoopback, type Route } from '@llm/browser-harness';

/**
 * Imports each ES module in a headless Chromium page served from loopback. Returns, per module,
 * the error its import threw, or undefined when it loaded.
 */
export async function loadInChromium(
  modules: readonly { name: string; code: string }[],
): Promise<Map<string, string | undefined>> {
  const routes: Record<string, Route> = { '/': modulePage('browser bundles') };
  for (const [i, module] of modules.entries()) routes[`/module-${i}.js`] = javascript(module.code);
  const server = await serveLoopback(routes);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`${server.origin}/`);
    const results = new Map<string, string | undefined>();
    for (const [i, module] of modules.entries()) {
      // A string, not a function: test runners rewrite import() inside functions they transform.
      const error = (await page.evaluate(
        `import('/module-${i}.js').then(() => undefined, (cause) => String(cause))`,
      )) as string | undefined;
      results.set(module.name, error);
    }
    return results;
  } finally {
    await browser.close();
    await server.close();
  }
}
