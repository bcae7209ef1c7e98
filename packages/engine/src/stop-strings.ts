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
    let at = -1;
    let matched: string | undefined;
    for (const stop of this.stops) {
      const i = text.indexOf(stop);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        matched = stop;
      }
    }
    if (matched !== undefined) {
      this.held = '';
      return { text: text.slice(0, at) + (this.includeStop ? matched : ''), matched };
    }
    const keep = this.heldSuffix(text);
    this.held = text.slice(text.length - keep);
    return { text: text.slice(0, text.length - keep) };
  }

  /** The text held back, released when the completion ends for another reason. */
  flush(): string {
    const text = this.held;
    this.held = '';
    return text;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
  private heldSuffix(text: string): number {
    for (let n = Math.min(this.longest - 1, text.length); n > 0; n--) {
      const suffix = text.slice(text.length - n);
      if (this.stops.some((s) => s.startsWith(suffix))) return n;
    }
    return 0;
  }
}
