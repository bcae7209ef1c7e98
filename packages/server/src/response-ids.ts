/** A response id in OpenAI's style: `cmpl-…`, `chatcmpl-…`. */
export function responseId(prefix: 'cmpl' | 'chatcmpl' | 'call'): string {
  return `${prefix}-${crypto.randomUUID().replaceAll('-', '')}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export interface UsageBody {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** OpenAI's usage object over the results of one HTTP request (each prompt counted once, as vLLM does). */
export function usageOf(
  results: readonly { usage: { promptTokens: number; completionTokens: number } }[],
): UsageBody {
  const prompt = results.reduce((n, r) => n + r.usage.promptTokens, 0);
  const completion = results.reduce((n, r) => n + r.usage.completionTokens, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}
