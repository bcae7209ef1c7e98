import type { AdapterRoofline } from '@llm/kernels';
import type { StepView } from '../protocol.js';
import { svgElement } from './sequence-colors.js';

const WIDTH = 320;
const HEIGHT = 200;
const MARGIN = { left: 40, right: 8, top: 8, bottom: 28 };
// Arithmetic intensity from 1/16 to 1024 flop/byte: decode of an f32 model sits near 0.5, long
// prefills climb past the ridge point.
const X_MIN = 1 / 16;
const X_MAX = 1024;
const POINTS_SHOWN = 200;

/**
 * The roofline model on the user's own run: the measured memory roof (bandwidth x intensity) and
 * compute roof (FMA rate) of this adapter, and each step as a point at its arithmetic intensity
 * (model FLOPs per byte moved) and achieved rate. Decode steps sit under the sloped memory roof,
 * prefill steps reach toward the flat compute roof.
 */
export class RooflineChart {
  private readonly svg: SVGSVGElement;
  private readonly caption: HTMLElement;
  private roof: AdapterRoofline | undefined;
  private measuring = false;
  private points: { intensity: number; gflops: number; kind: string; step: number }[] = [];

  constructor(root: HTMLElement) {
    this.svg = root.querySelector('svg')!;
    this.svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
    this.caption = root.querySelector('[data-roofline-caption]')!;
    this.draw();
  }

  setRoof(roof: AdapterRoofline): void {
    this.roof = roof;
    this.draw();
  }

  /** A new model: its points start afresh, and the roof is measured again. */
  reset(): void {
    this.points = [];
    this.roof = undefined;
    this.measuring = true;
    this.draw();
  }

  update(step: StepView): void {
    if (step.bytes <= 0 || step.wallMs <= 0) return;
    const kind = step.prefill.length === 0 ? 'decode' : step.decode.length === 0 ? 'prefill' : 'mixed';
    this.points.push({ intensity: step.flops / step.bytes, gflops: step.flops / step.wallMs / 1e6, kind, step: step.step });
    if (this.points.length > POINTS_SHOWN) this.points.shift();
    this.draw();
  }

  private draw(): void {
    const roof = this.roof;
    const yMax = Math.max(roof?.gflops ?? 1, ...this.points.map((p) => p.gflops)) * 2;
    const yMin = Math.min(yMax / 1e5, ...this.points.map((p) => p.gflops / 2));
    const plotW = WIDTH - MARGIN.left - MARGIN.right;
    const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
    const x = (ai: number) => MARGIN.left + (plotW * Math.log(ai / X_MIN)) / Math.log(X_MAX / X_MIN);
    const y = (g: number) => MARGIN.top + plotH - (plotH * Math.log(g / yMin)) / Math.log(yMax / yMin);
    const nodes: SVGElement[] = [
      svgElement('rect', { x: MARGIN.left, y: MARGIN.top, width: plotW, height: plotH, class: 'plot-area' }),
    ];
    for (const ai of [0.1, 1, 10, 100, 1000]) {
      nodes.push(svgElement('line', { x1: x(ai), x2: x(ai), y1: MARGIN.top, y2: MARGIN.top + plotH, class: 'grid' }));
      const label = svgElement('text', { x: x(ai), y: HEIGHT - 14, class: 'tick', 'text-anchor': 'middle' });
      label.textContent = String(ai);
      nodes.push(label);
    }
    for (let g = 10 ** Math.ceil(Math.log10(yMin)); g < yMax; g *= 10) {
      nodes.push(svgElement('line', { x1: MARGIN.left, x2: MARGIN.left + plotW, y1: y(g), y2: y(g), class: 'grid' }));
      const label = svgElement('text', { x: MARGIN.left - 3, y: y(g) + 3, class: 'tick', 'text-anchor': 'end' });
      label.textContent = g >= 1 ? `${g}` : g.toExponential(0);
      nodes.push(label);
    }
    const axis = svgElement('text', { x: MARGIN.left + plotW / 2, y: HEIGHT - 2, class: 'axis', 'text-anchor': 'middle' });
    axis.textContent = 'arithmetic intensity (flop/byte) → GFLOP/s';
    nodes.push(axis);
    if (roof) {
      const ridge = roof.gflops / roof.readGBps;
      const path = [
        [X_MIN, roof.readGBps * X_MIN],
        [Math.min(Math.max(ridge, X_MIN), X_MAX), Math.min(roof.gflops, roof.readGBps * X_MAX)],
        [X_MAX, Math.min(roof.gflops, roof.readGBps * X_MAX)],
      ]
        .map(([ai, g], i) => `${i === 0 ? 'M' : 'L'}${x(ai!).toFixed(1)},${y(g!).toFixed(1)}`)
        .join(' ');
      nodes.push(svgElement('path', { d: path, class: 'roof' }));
    }
    for (const p of this.points) {
      if (p.intensity < X_MIN || p.intensity > X_MAX) continue;
      const dot = svgElement('circle', { cx: x(p.intensity), cy: y(p.gflops), r: 3, class: `roof-point ${p.kind}` });
      const title = svgElement('title', {});
      title.textContent = `step ${p.step} (${p.kind}): ${p.intensity.toFixed(2)} flop/byte, ${p.gflops.toPrecision(3)} GFLOP/s`;
      dot.append(title);
      nodes.push(dot);
    }
    this.svg.replaceChildren(...nodes);
    this.caption.textContent = roof
      ? `roof: ${roof.readGBps.toPrecision(3)} GB/s read, ${roof.gflops.toPrecision(3)} GFLOP/s fma (measured here); ` +
        `${this.points.length} step(s) plotted at wall time`
      : this.measuring
        ? "measuring this adapter's roof…"
        : 'no model loaded: the roof is measured when one loads';
  }
}
