import { describe, expect, it } from 'vitest';
import { dawnWarningFilter } from './dawn-warnings.js';

const UNIFORM =
  'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';
const STORAGE =
  'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';

function filtered(chunks: string[]): string {
  let out = '';
  const filter = dawnWarningFilter((text) => (out += text));
  for (const chunk of chunks) filter.push(chunk);
  filter.end();
  return out;
}

describe('dawnWarningFilter', () => {
  it("drops Dawn's two startup warnings and keeps every other line", () => {
    const text = `${UNIFORM}\n${STORAGE}\n[llm] loading weights 100% (7/7)\nWarning: something else\n`;
    expect(filtered([text])).toBe('[llm] loading weights 100% (7/7)\nWarning: something else\n');
  });

  it('drops a warning split across chunks at any point', () => {
    const text = `${UNIFORM}\nafter\n`;
    for (let cut = 1; cut < text.length; cut++) {
      expect(filtered([text.slice(0, cut), text.slice(cut)])).toBe('after\n');
    }
  });

  it('keeps a warning line that is not at the start of a line', () => {
    expect(filtered(['x', `${UNIFORM}\n`])).toBe(`x${UNIFORM}\n`);
  });

  it('passes a progress redraw on at once, without waiting for its newline', () => {
    let out = '';
    const filter = dawnWarningFilter((text) => (out += text));
    filter.push('\r[llm] loading weights 28% (2/7)');
    expect(out).toBe('\r[llm] loading weights 28% (2/7)');
  });

  it('keeps a last line without a newline', () => {
    expect(filtered(['Warn'])).toBe('Warn');
  });
});
