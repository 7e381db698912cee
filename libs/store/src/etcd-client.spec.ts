import { TooLargeError, UnavailableError } from '@berth/core';
import { GRPCUnavailableError } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import { createEtcdClient, translateError } from './etcd-client';
import { memberPolicy, MemberSkippedError } from './host-breaker';

describe('translateError', () => {
  const client = createEtcdClient({ endpoints: ['http://127.0.0.1:1', 'http://127.0.0.1:2'] });
  afterAll(() => client.close());

  it('turns an unanswered call into UnavailableError naming the endpoints', () => {
    const e = translateError(client, 'list services', new GRPCUnavailableError('14 UNAVAILABLE: No connection established'));
    expect(e).toBeInstanceOf(UnavailableError);
    expect((e as Error).message).toContain('http://127.0.0.1:1,http://127.0.0.1:2');
  });

  it("turns etcd's txn limits into TooLargeError with the caller's message", () => {
    const e = translateError(client, 'apply', new Error('etcdserver: too many operations in txn request'), () => '200 services');
    expect(e).toBeInstanceOf(TooLargeError);
    expect((e as Error).message).toBe('200 services');
  });

  it('passes other errors through', () => {
    const other = new Error('boom');
    expect(translateError(client, 'x', other)).toBe(other);
  });
});

describe('memberPolicy', () => {
  it('skips a member after three transport failures in a row, and says so', async () => {
    const policy = memberPolicy('m1');
    const fail = () => Promise.reject(new GRPCUnavailableError('down'));
    for (let i = 0; i < 3; i++) await expect(policy.execute(fail)).rejects.toBeInstanceOf(GRPCUnavailableError);
    await expect(policy.execute(() => Promise.resolve(1))).rejects.toBeInstanceOf(MemberSkippedError);
  });

  it('does not count answers that are refusals, not failures', async () => {
    const policy = memberPolicy('m1');
    for (let i = 0; i < 5; i++) await expect(policy.execute(() => Promise.reject(new Error('compare failed')))).rejects.toThrow();
    await expect(policy.execute(() => Promise.resolve(1))).resolves.toBe(1);
  });
});
