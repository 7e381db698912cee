import { createCsr, newPrivateKey } from '@berth/pki';
import type { IdentityProvider } from './identity-provider';
import { identityOf, message, nodeCommonName, saveIdentity, type IdentityFiles, type NodeIdentity } from './node-identity';

/** Renewal happens at a uniformly random point between these fractions of the certificate's lifetime. */
export const RENEW_FROM = 0.5;
export const RENEW_UNTIL = 0.8;
/** A failed renewal is retried after at most this long (less when the certificate expires sooner). */
export const RETRY_MAX_MS = 60_000;
const RETRY_MIN_MS = 1_000;
/** setTimeout's longest delay; longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Milliseconds from `nowMs` to the renewal point: validFrom + (50 % … 80 %) of the lifetime by `random` in [0, 1). */
export function renewalDelayMs(validFrom: Date, validTo: Date, nowMs: number, random: number): number {
  const from = validFrom.getTime();
  const lifetime = validTo.getTime() - from;
  const at = from + lifetime * (RENEW_FROM + (RENEW_UNTIL - RENEW_FROM) * random);
  return Math.max(0, Math.round(at - nowMs));
}

/**
 * How long to wait before retrying a failed renewal: a tenth of the remaining lifetime, at most
 * a minute (at least a second). Undefined when the retry would come at or after expiry.
 */
export function retryDelayMs(validTo: Date, nowMs: number): number | undefined {
  const remaining = validTo.getTime() - nowMs;
  const delay = Math.max(RETRY_MIN_MS, Math.min(RETRY_MAX_MS, Math.floor(remaining / 10)));
  return delay < remaining ? delay : undefined;
}

export interface RenewerOptions {
  readonly name: string;
  readonly files: IdentityFiles;
  /** Holds the current identity; renewed ones are pushed to it (new connections use them). */
  readonly provider: IdentityProvider;
  /** Sends the CSR (same name) over mutual TLS with the current certificate; resolves to the new certificate, PEM. */
  readonly renew: (csrPem: string) => Promise<string>;
  readonly log: (line: string) => void;
  /** Called with every renewed identity, after it is saved and in use. */
  readonly renewed?: (identity: NodeIdentity) => void;
  /** Wall clock in ms since the epoch (default Date.now). */
  readonly now?: () => number;
  /** Uniform in [0, 1) (default Math.random). */
  readonly random?: () => number;
}

/**
 * Keeps the node certificate fresh: renews it at a random point between 50 % and 80 % of its
 * lifetime (so nodes that joined together do not all renew at once), retries failures after
 * min(1 min, a tenth of the remaining lifetime) and never past expiry. Its timers are unref'd.
 */
export class CertificateRenewer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** When the next attempt is due (ms since the epoch); undefined when none is scheduled. */
  due: number | undefined;

  constructor(private readonly o: RenewerOptions) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** Schedules the renewal of the provider's current certificate. */
  start(): void {
    const { validFrom, validTo } = this.o.provider.current;
    this.scheduleIn(renewalDelayMs(validFrom, validTo, this.now(), (this.o.random ?? Math.random)()));
  }

  /** Cancels what is scheduled and waits for a renewal under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private scheduleIn(ms: number): void {
    if (this.stopped) return;
    this.due = this.now() + ms;
    this.arm();
  }

  private arm(): void {
    const due = this.due;
    if (due === undefined || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.now() < due) return this.arm(); // a wait longer than setTimeout takes, or an early wake
      this.due = undefined;
      this.running = this.attempt().finally(() => (this.running = undefined));
    }, Math.min(MAX_TIMER_MS, Math.max(0, due - this.now())));
    this.timer.unref();
  }

  private async attempt(): Promise<void> {
    const current = this.o.provider.current;
    try {
      const keyPem = newPrivateKey();
      const certPem = await this.o.renew(createCsr(keyPem, nodeCommonName(this.o.name)));
      const identity = identityOf(current.caPem, certPem, keyPem, this.o.name);
      await saveIdentity(this.o.files, identity);
      this.o.provider.update(identity);
      this.o.renewed?.(identity);
      this.o.log(`certificate renewed; valid until ${identity.validTo.toISOString()}`);
      this.start();
    } catch (e) {
      if (this.stopped) return;
      const retry = retryDelayMs(current.validTo, this.now());
      if (retry === undefined) {
        this.o.log(
          `renewing the node certificate failed (${message(e)}); it expires at ${current.validTo.toISOString()}, before another try: ` +
            `remove ${this.o.files.certFile} and join again with a token`,
        );
        return;
      }
      this.o.log(`renewing the node certificate failed (${message(e)}); retrying in ${Math.round(retry / 1000)} s (it expires at ${current.validTo.toISOString()})`);
      this.scheduleIn(retry);
    }
  }
}
