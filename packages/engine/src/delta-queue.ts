/**
 * An unbounded single-consumer queue as an async iterable: the step loop pushes, a caller's
 * `for await` pulls. Ending (or failing) it lets the consumer drain what was pushed first.
 */
export class DeltaQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  /** `onReturn` runs when the consumer stops iterating early (a `break` out of `for await`). */
  constructor(private readonly onReturn: () => void = () => {}) {}

  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private done = false;
  private error: unknown;
  private failed = false;

  push(item: T): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
    } else this.items.push(item);
  }

  end(): void {
    this.done = true;
    this.settleWaiter();
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.failed = true;
    this.error = error;
    this.settleWaiter();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
        if (this.done) {
          return this.failed ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
      },
      return: () => {
        if (!this.done) this.onReturn();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private settleWaiter(): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = undefined;
    if (this.failed) w.reject(this.error);
    else w.resolve({ value: undefined, done: true });
  }
}
