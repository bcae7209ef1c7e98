import type { BlockView, StepView } from '../protocol.js';
import { sequenceColor } from './sequence-colors.js';

/**
 * Paging made visible: one cell per physical block of the KV pool, coloured by the sequence
 * holding it. A block held by several sequences (a shared prompt prefix, the n completions of one
 * prompt) is striped in their colours; a block just written by copy-on-write is outlined; cached
 * blocks (a freed prefix kept for reuse) are grey, free ones empty.
 */
export class KvBlockMap {
  private readonly grid: HTMLElement;
  private readonly summary: HTMLElement;
  private cells: HTMLElement[] = [];

  constructor(root: HTMLElement) {
    this.summary = root.querySelector('[data-kv-summary]')!;
    this.grid = root.querySelector('[data-kv-grid]')!;
  }

  reset(numBlocks: number): void {
    this.grid.replaceChildren();
    this.cells = Array.from({ length: numBlocks }, (_, i) => {
      const cell = document.createElement('div');
      cell.className = 'block free';
      cell.dataset['block'] = String(i);
      this.grid.append(cell);
      return cell;
    });
    this.summary.textContent = `${numBlocks} blocks, none in use`;
  }

  update(step: StepView): void {
    if (this.cells.length !== step.blocks.length) this.reset(step.blocks.length);
    const copied = new Set(step.copies.map((c) => c.dst));
    let used = 0;
    let shared = 0;
    let cached = 0;
    step.blocks.forEach((block, i) => {
      const cell = this.cells[i]!;
      cell.className = `block ${classOf(block)}${copied.has(i) ? ' cow' : ''}`;
      cell.style.background = backgroundOf(block);
      cell.title = titleOf(i, block, copied.has(i));
      if (block.s === 'u') used++;
      if (block.o.length > 1) shared++;
      if (block.s === 'c') cached++;
    });
    const total = step.blocks.length;
    this.summary.textContent =
      `${used} of ${total} blocks in use (${((100 * used) / total).toFixed(1)}%), ${shared} shared, ` +
      `${cached} cached, ${total - used - cached} free; step ${step.step}` +
      (step.copies.length > 0 ? `, ${step.copies.length} copy-on-write` : '');
  }
}

function classOf(block: BlockView): string {
  if (block.s === 'f') return 'free';
  if (block.s === 'c') return 'cached';
  return block.o.length > 1 ? 'used shared' : 'used';
}

function backgroundOf(block: BlockView): string {
  if (block.s !== 'u' || block.o.length === 0) return '';
  if (block.o.length === 1) return sequenceColor(block.o[0]!);
  const stripe = 100 / block.o.length;
  const stops = block.o.map((id, k) => `${sequenceColor(id)} ${k * stripe}% ${(k + 1) * stripe}%`);
  return `linear-gradient(135deg, ${stops.join(', ')})`;
}

function titleOf(i: number, block: BlockView, copied: boolean): string {
  const state = block.s === 'f' ? 'free' : block.s === 'c' ? 'cached (reusable prefix)' : `held by ${block.o.join(', ')}`;
  return `block ${i}: ${state}${copied ? '; written by copy-on-write this step' : ''}`;
}
