/**
 * The first ```js block under a README's "## Example" heading: the code a user copies into an
 * .mjs file. Undefined when the section or the block is missing.
 */
export function readmeExample(readme: string): string | undefined {
  const section = /^## Example[ \t]*$([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readme)?.[1];
  return section && /^```js[ \t]*\n([\s\S]*?)^```/m.exec(section)?.[1];
}
