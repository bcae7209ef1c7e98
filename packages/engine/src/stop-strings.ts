/** What a completion's text stream emits after one more piece of decoded text. */
export interface StopScan {
  /** Text now safe to emit (cannot be the start of a stop string any more). */
  readonly text: string;
  /** The stop string that ended the completion, when one matched. */
  readonly matched?: string;
}

/**
 * Finds stop strings in a completion's decoded text across token boundaries: text that could
 * still become the start of a stop string is held back until the next piece decides it, and a
 * matched stop string (and everything after it) is never emitted.
 */
export class StopStringMatcher {
  private held = '';
  private readonly longest: number;

  constructor(
    private readonly stops: readonly string[],
    private readonly includeStop: boolean,
  ) {
    this.longest = Math.max(0, ...stops.map((s) => s.length));
  }

  push(piece: string): StopScan {
    if (this.stops.length === 0) return { text: piece };
    const text = this.held + piece;
    const match = this.earliestMatch(text);
    // A longer stop string that starts before the match may still complete and then wins: hold
    // everything from its start until the next pieces decide.
    const pending = this.pendingStart(text, match?.at ?? text.length);
    if (pending < text.length) {
      this.held = text.slice(pending);
      return { text: text.slice(0, pending) };
    }
    this.held = '';
    if (match) return { text: text.slice(0, match.at) + (this.includeStop ? match.stop : ''), matched: match.stop };
    return { text };
  }

  /**
   * The text held back, released when the completion ends for another reason: up to the first
   * stop string in it, when one is complete there.
   */
  flush(): string {
    const text = this.held;
    this.held = '';
    const match = this.earliestMatch(text);
    return match ? text.slice(0, match.at) + (this.includeStop ? match.stop : '') : text;
  }

  /** The stop string that starts first in `text` (of two at one position, the first listed). */
  private earliestMatch(text: string): { at: number; stop: string } | undefined {
    let best: { at: number; stop: string } | undefined;
    for (const stop of this.stops) {
      const at = text.indexOf(stop);
      if (at >= 0 && (best === undefined || at < best.at)) best = { at, stop };
    }
    return best;
  }

  /**
   * The first position before `limit` from which the rest of `text` is a proper prefix of some
   * stop string (a stop string that may still complete), or text.length when there is none.
   */
  private pendingStart(text: string, limit: number): number {
    for (let p = Math.max(0, text.length - this.longest + 1); p < limit; p++) {
      const rest = text.slice(p);
      if (this.stops.some((s) => s.length > rest.length && s.startsWith(rest))) return p;
    }
    return text.length;
  }
}
