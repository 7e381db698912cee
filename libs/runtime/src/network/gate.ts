/**
 * A readers–writer gate for async operations: up to `maxShared` shared operations run side by
 * side; an exclusive one runs alone. Waiters are admitted in arrival order, so an exclusive
 * operation is never starved by a stream of shared ones (shared operations that arrive after it
 * wait for it).
 */
export class SharedExclusiveGate {
  private shared = 0;
  private exclusive = false;
  private readonly waiting: { readonly exclusive: boolean; readonly admit: () => void }[] = [];

  constructor(private readonly maxShared: number) {
    if (!Number.isInteger(maxShared) || maxShared < 1) throw new RangeError(`maxShared must be a positive integer (got ${maxShared})`);
  }

  /** Runs `op` beside other shared operations, never beside an exclusive one. */
  runShared<T>(op: () => Promise<T>): Promise<T> {
    return this.run(false, op);
  }

  /** Runs `op` with nothing else running. */
  runExclusive<T>(op: () => Promise<T>): Promise<T> {
    return this.run(true, op);
  }

  private async run<T>(exclusive: boolean, op: () => Promise<T>): Promise<T> {
    await new Promise<void>((admit) => {
      this.waiting.push({ exclusive, admit });
      this.admitWaiting();
    });
    try {
      return await op();
    } finally {
      if (exclusive) this.exclusive = false;
      else this.shared--;
      this.admitWaiting();
    }
  }

  private admitWaiting(): void {
    for (;;) {
      const next = this.waiting[0];
      if (!next || this.exclusive) return;
      if (next.exclusive ? this.shared > 0 : this.shared >= this.maxShared) return;
      this.waiting.shift();
      if (next.exclusive) this.exclusive = true;
      else this.shared++;
      next.admit();
    }
  }
}
