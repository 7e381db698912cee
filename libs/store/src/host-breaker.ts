import { isRecoverableError, type IOptions } from 'etcd3';

type HostPolicy = ReturnType<NonNullable<NonNullable<IOptions['faultHandling']>['host']>>;

/** Consecutive transport failures after which a member is skipped for a while. */
const FAILURES_TO_SKIP = 3;
const SKIP_MS = 1_000;

export class MemberSkippedError extends Error {
  constructor(host: string) {
    super(`etcd member ${host} skipped for ${SKIP_MS} ms after ${FAILURES_TO_SKIP} failed calls`);
  }
}

/**
 * Per-member fault policy for etcd3's connection pool. etcd3's default opens a breaker for 5 s
 * after 3 failures; during a raft election every member fails ("no leader") for a moment, so all
 * breakers opened together and the client stayed dark for 5 s after the cluster had recovered.
 * This one skips a member for 1 s only; a skipped member makes the pool try the next one.
 */
export function memberPolicy(host: string): HostPolicy {
  let failures = 0;
  let skipUntil = 0;
  const noEvent = () => ({ dispose: () => undefined });
  const policy = {
    onSuccess: noEvent,
    onFailure: noEvent,
    async execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> {
      if (Date.now() < skipUntil) throw new MemberSkippedError(host);
      try {
        const value = await fn({ signal: new AbortController().signal });
        failures = 0;
        return value;
      } catch (e) {
        if (e instanceof Error && isRecoverableError(e) && ++failures >= FAILURES_TO_SKIP) {
          failures = 0;
          skipUntil = Date.now() + SKIP_MS;
        }
        throw e;
      }
    },
  };
  return policy as unknown as HostPolicy;
}
