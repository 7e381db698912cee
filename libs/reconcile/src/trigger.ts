/**
 * A dirty flag with a wake-up: event handlers `kick()` it (cheap, synchronous, no I/O), one worker
 * `wait()`s for it. Any number of kicks between two waits cost one pass, and a kick during a pass
 * is never lost: the next `wait()` returns at once.
 */
export class Trigger {
  private dirty: boolean;
  private wake: (() => void) | undefined;

  /** `dirty`: whether the first wait returns at once (default true: a first pass always runs). */
  constructor(dirty = true) {
    this.dirty = dirty;
  }

  kick(): void {
    this.dirty = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Resolves once kicked since the last wait (or when `signal` aborts); clears the flag. */
  async wait(signal: AbortSignal): Promise<void> {
    if (!this.dirty && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
    this.dirty = false;
  }
}
