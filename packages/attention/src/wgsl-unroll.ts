/**
 * Generated-code helpers. The kernels keep per-invocation vectors (a query row, an output
 * accumulator) in named registers, with the loops over them unrolled at generation time:
 * dynamically indexed private arrays compile to chains of selects on some drivers (lavapipe's
 * compile time grows from milliseconds to tens of seconds), and registers are what a GPU wants.
 */
export function unroll(count: number, line: (i: number) => string, indent = '  '): string {
  return Array.from({ length: count }, (_, i) => indent + line(i)).join('\n');
}
