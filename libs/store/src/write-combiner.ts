/**
 * Combines many callers' small writes into few large ones: items wait in one queue, and each
 * write takes up to `batch` of them, with at most `concurrency` writes under way. A caller's
 * promise settles once all its items were written, or rejects with the error of the first write
 * of its items that failed. While writes are under way the queue fills, so the busier the writer,
 * the fuller its batches: a hundred agents each reporting one task at a time cost a few
 * transactions, not a hundred.
 */
export class WriteCombiner<T> {
  private readonly queue: { readonly item: T; readonly done: (error?: unknown) => void }[] = [];
  private running = 0;

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly o: { readonly batch: number; readonly concurrency: number },
  ) {}

  submit(items: readonly T[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    const settled = items.map(
      (item) =>
        new Promise<void>((resolve, reject) => {
          this.queue.push({ item, done: (error) => (error === undefined ? resolve() : reject(error)) });
        }),
    );
    this.pump();
    return Promise.all(settled).then(() => undefined);
  }

  private pump(): void {
    while (this.running < this.o.concurrency && this.queue.length > 0) {
      const taken = this.queue.splice(0, this.o.batch);
      this.running++;
      void this.write(taken.map((t) => t.item))
        .then(
          () => taken.forEach((t) => t.done()),
          (e: unknown) => taken.forEach((t) => t.done(e ?? new Error('write failed'))),
        )
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
  }
}
