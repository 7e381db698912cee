/**
 * Bytes the other end of the session allows this one to send for one stream (a log request):
 * `spend` what goes out, `grant` what the other end passed on; `room` waits while none is left.
 */
export class SendCredit {
  private wake: (() => void) | undefined;

  /** `available`: the first grant; Infinity for a peer that grants nothing (no limit). */
  constructor(private available: number) {}

  grant(bytes: number): void {
    this.available += bytes;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  spend(bytes: number): void {
    this.available -= bytes;
  }

  /** Resolves once there is credit left, or at once when `signal` is aborted. */
  async room(signal: AbortSignal): Promise<void> {
    while (this.available <= 0 && !signal.aborted) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  }
}
