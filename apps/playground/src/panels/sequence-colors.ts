/**
 * A colour per sequence: requests get hues far apart (golden-angle steps), and the n completions
 * of one request (ids `7`, `7/1`, `7/2`, ...) share its hue at different lightness.
 */
export function sequenceColor(seqId: string): string {
  const [request, completion] = seqId.split('/');
  const hue = (Number(request) * 137.508) % 360;
  const lightness = 45 + 10 * (Number(completion ?? 0) % 4);
  return `hsl(${hue.toFixed(0)} 70% ${lightness}%)`;
}

export function svgElement<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number>,
): SVGElementTagNameMap[K] {
  const element = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}
