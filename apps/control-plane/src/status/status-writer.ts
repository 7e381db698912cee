import type { ServiceStatus } from '@berth/core';
import type { LeaderFence, LeaderWrites } from '@berth/store';

interface Waiter {
  resolve(): void;
  reject(e: unknown): void;
}

/**
 * Coalesces the status writes that reconciles issue within one turn of the event loop into one
 * `putServiceStatuses` call (which the store splits into fenced transactions of ≤127 ops), so a
 * new leader's full pass over many services costs a few transactions, not one per service.
 * Each `put` settles with the outcome of the batch that carried it.
 */
export class StatusWriter {
  private pending = new Map<string, { status: ServiceStatus; waiters: Waiter[] }>();
  private scheduled = false;

  constructor(
    private readonly store: LeaderWrites,
    private readonly fence: LeaderFence,
  ) {}

  put(name: string, status: ServiceStatus): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const entry = this.pending.get(name);
      // A later status for the same service replaces the earlier one in the batch.
      this.pending.set(name, { status, waiters: [...(entry?.waiters ?? []), { resolve, reject }] });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.scheduled = false;
    const waiters = [...batch.values()].flatMap((e) => e.waiters);
    try {
      await this.store.putServiceStatuses(new Map([...batch].map(([name, e]) => [name, e.status])), this.fence);
      waiters.forEach((w) => w.resolve());
    } catch (e) {
      waiters.forEach((w) => w.reject(e));
    }
  }
}
