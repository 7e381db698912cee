import type { TaskStatus as WireStatus } from '@berth/proto';
import type { LocalTask } from '../worker/model';
import { statusToWire } from './wire';

/**
 * Statuses waiting for the control plane's acknowledgement. Only the newest status of a task is
 * kept (older ones are superseded: states only move forward), each with a growing sequence
 * number. An ack of seq N drops everything at or below N; the rest is re-sent after a reconnect,
 * so nothing the agent observed is lost to a broken connection.
 */
export class StatusOutbox {
  private seq = 0;
  private readonly pending = new Map<string, WireStatus>();
  private unsent = new Set<string>();

  add(task: LocalTask): void {
    const id = task.assignment.taskId;
    this.pending.set(id, statusToWire(task, ++this.seq));
    this.unsent.add(id);
  }

  /** Statuses not yet written on the current connection; marks them written. */
  takeUnsent(): WireStatus[] {
    const out = [...this.unsent].map((id) => this.pending.get(id)!).filter(Boolean);
    this.unsent = new Set();
    return out.sort((a, b) => a.seq - b.seq);
  }

  ack(seq: number): void {
    for (const [id, s] of this.pending) if (s.seq <= seq) this.pending.delete(id);
  }

  /** After a reconnect everything unacknowledged goes out again. */
  resendAll(): void {
    this.unsent = new Set(this.pending.keys());
  }

  get size(): number {
    return this.pending.size;
  }
}
