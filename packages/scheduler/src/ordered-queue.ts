/**
 * A queue kept sorted by a strict total order (no two items compare equal): insertion and removal
 * find their place by binary search and splice. Queues hold at most maxNumSeqs (running) or the
 * requests in flight (waiting, swapped), where an array's splice beats a tree's pointer chasing.
 */
export class OrderedQueue<T> {
  private readonly items: T[] = [];

  constructor(private readonly compare: (a: T, b: T) => number) {}

  get length(): number {
    return this.items.length;
  }

  /** The item at sorted position `index`, first = served first. */
  at(index: number): T | undefined {
    return this.items[index];
  }

  first(): T | undefined {
    return this.items[0];
  }

  insert(item: T): void {
    this.items.splice(this.lowerBound(item), 0, item);
  }

  /** Removes `item` (found by its order, then by identity); false if it is not here. */
  remove(item: T): boolean {
    const i = this.lowerBound(item);
    if (this.items[i] !== item) return false;
    this.items.splice(i, 1);
    return true;
  }

  indexOf(item: T): number {
    const i = this.lowerBound(item);
    return this.items[i] === item ? i : -1;
  }

  [Symbol.iterator](): Iterator<T> {
    return this.items[Symbol.iterator]();
  }

  /** First position whose item does not sort before `item`. */
  private lowerBound(item: T): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(this.items[mid]!, item) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
