import type { StepView } from '../protocol.js';
import { sequenceColor, svgElement } from './sequence-colors.js';

const STEPS_SHOWN = 96;
const HEIGHT = 120;

/**
 * Continuous batching made visible: one column per engine step, its height the tokens the step
 * ran, split by sequence. Prefill chunks are solid, decode tokens (one per running sequence)
 * lighter: sequences join and leave the batch at any step.
 */
export class BatchTimeline {
  private readonly svg: SVGSVGElement;
  private readonly caption: HTMLElement;
  private steps: StepView[] = [];
  private maxTokens = 1;

  constructor(root: HTMLElement) {
    this.svg = root.querySelector('svg')!;
    this.caption = root.querySelector('[data-batch-caption]')!;
  }

  reset(): void {
    this.steps = [];
    this.maxTokens = 1;
    this.svg.replaceChildren();
    this.caption.textContent = 'no steps yet';
  }

  update(step: StepView): void {
    this.steps.push(step);
    if (this.steps.length > STEPS_SHOWN) this.steps.shift();
    const tokens = (s: StepView) => s.prefill.reduce((n, p) => n + p.tokens, 0) + s.decode.length;
    this.maxTokens = Math.max(this.maxTokens, tokens(step));
    const width = 100 / STEPS_SHOWN;
    // Heights on a square-root scale: a 200-token prefill chunk beside one-token decodes.
    const scale = (n: number) => (HEIGHT * Math.sqrt(n)) / Math.sqrt(this.maxTokens);
    const bars: SVGElement[] = [];
    this.steps.forEach((s, column) => {
      let y = HEIGHT;
      const x = column * width;
      const parts = [
        ...s.prefill.map((p) => ({ seqId: p.seqId, tokens: p.tokens, kind: 'prefill' })),
        ...s.decode.map((seqId) => ({ seqId, tokens: 1, kind: 'decode' })),
      ];
      let done = 0;
      for (const part of parts) {
        const top = HEIGHT - scale(done + part.tokens);
        const rect = svgElement('rect', {
          x: `${x}%`,
          y: top,
          width: `${width * 0.85}%`,
          height: Math.max(0.5, y - top),
          fill: sequenceColor(part.seqId),
          'fill-opacity': part.kind === 'prefill' ? 1 : 0.55,
          class: `bar ${part.kind}`,
        });
        rect.append(svgElement('title', {}));
        rect.firstElementChild!.textContent = `step ${s.step}: ${part.kind} ${part.tokens} token(s) of ${part.seqId}`;
        bars.push(rect);
        done += part.tokens;
        y = top;
      }
    });
    this.svg.replaceChildren(...bars);
    const prefill = step.prefill.reduce((n, p) => n + p.tokens, 0);
    this.caption.textContent =
      `step ${step.step}: ${prefill} prefill token(s) from ${step.prefill.length} sequence(s), ` +
      `${step.decode.length} decode token(s); ${step.numRunning} running, ${step.numWaiting} waiting; ` +
      `${step.wallMs.toFixed(1)} ms`;
  }
}
