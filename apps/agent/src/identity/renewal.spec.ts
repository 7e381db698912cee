import { createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCa, issueCertificate, newPrivateKey, readCsr } from '@berth/pki';
import { IdentityProvider } from './identity-provider';
import { identityFiles, identityOf, type IdentityFiles } from './node-identity';
import { CertificateRenewer, renewalDelayMs, retryDelayMs } from './renewal';

const DAY = 86_400_000;
const from = new Date('2030-01-01T00:00:00Z');
const to = new Date(from.getTime() + 100 * DAY);

describe('renewalDelayMs', () => {
  it('picks a point between 50 % and 80 % of the lifetime', () => {
    expect(renewalDelayMs(from, to, from.getTime(), 0)).toBe(50 * DAY);
    expect(renewalDelayMs(from, to, from.getTime(), 1)).toBe(80 * DAY);
    expect(renewalDelayMs(from, to, from.getTime() + 10 * DAY, 0.5)).toBe(55 * DAY);
  });

  it('is now when the point has passed', () => {
    expect(renewalDelayMs(from, to, from.getTime() + 90 * DAY, 0)).toBe(0);
  });
});

describe('retryDelayMs', () => {
  it('waits a minute at most, a tenth of the remaining lifetime when less', () => {
    expect(retryDelayMs(to, to.getTime() - 10 * DAY)).toBe(60_000);
    expect(retryDelayMs(to, to.getTime() - 100_000)).toBe(10_000);
  });

  it('never retries at or past expiry', () => {
    expect(retryDelayMs(to, to.getTime())).toBeUndefined();
    expect(retryDelayMs(to, to.getTime() + 1)).toBeUndefined();
    expect(retryDelayMs(to, to.getTime() - 500)).toBeUndefined(); // not even the one-second minimum fits
  });
});

describe('CertificateRenewer', () => {
  const ca = createCa({ commonName: 'berth cluster CA', now: new Date('2029-01-01T00:00:00Z') });
  const issue = (publicKeyPem: Parameters<typeof createPublicKey>[0], now: Date) =>
    issueCertificate(ca, { publicKey: createPublicKey(publicKeyPem), commonName: 'node:n1', uses: ['client'], lifetimeMs: 100 * DAY, now });
  let dataDir: string;
  let files: IdentityFiles;
  let logs: string[];

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
    dataDir = await mkdtemp(join(tmpdir(), 'berth-renewal-'));
    files = identityFiles(dataDir);
    logs = [];
  });
  afterEach(async () => {
    vi.useRealTimers();
    await rm(dataDir, { recursive: true, force: true });
  });

  function provider(): IdentityProvider {
    const keyPem = newPrivateKey();
    return new IdentityProvider(identityOf(ca.certPem, issue(keyPem, new Date()), keyPem, 'n1'));
  }

  it('renews at the drawn point, saves, pushes the new identity and schedules the next', async () => {
    const p = provider();
    const first = p.current;
    const seen: string[] = [];
    p.addIdentityCertificateListener((u) => seen.push(u?.certificate.toString() ?? ''));
    const csrs: string[] = [];
    const renewer = new CertificateRenewer({
      name: 'n1',
      files,
      provider: p,
      log: (l) => logs.push(l),
      random: () => 0,
      renew: async (csrPem) => {
        csrs.push(readCsr(csrPem).commonName);
        return issue(readCsr(csrPem).publicKey.export({ type: 'spki', format: 'pem' }), new Date());
      },
    });
    renewer.start();
    // validFrom is back-dated by the clock skew allowance, so 50 % comes that much earlier.
    expect(renewer.due).toBe(first.validFrom.getTime() + (first.validTo.getTime() - first.validFrom.getTime()) / 2);
    await vi.advanceTimersByTimeAsync(renewer.due! - Date.now() - 1);
    expect(csrs).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await vi.waitFor(() => expect(logs).toHaveLength(1));
    expect(csrs).toEqual(['node:n1']);
    expect(p.current.certPem).not.toBe(first.certPem);
    expect(seen).toEqual([first.certPem, p.current.certPem]);
    expect(await readFile(files.certFile, 'utf8')).toBe(p.current.certPem);
    expect(await readFile(files.keyFile, 'utf8')).toBe(p.current.keyPem);
    expect(logs).toEqual([`certificate renewed; valid until ${p.current.validTo.toISOString()}`]);
    expect(renewer.due).toBe(p.current.validFrom.getTime() + (p.current.validTo.getTime() - p.current.validFrom.getTime()) / 2);
    await renewer.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('retries failures after min(60 s, a tenth of the remaining lifetime) and stops before expiry', async () => {
    const p = provider();
    let attempts = 0;
    let attemptAt = 0;
    const renewer = new CertificateRenewer({
      name: 'n1',
      files,
      provider: p,
      log: (l) => logs.push(l),
      random: () => 1,
      renew: async () => {
        attempts++;
        attemptAt = Date.now();
        throw new Error('UNAVAILABLE: no connection');
      },
    });
    renewer.start();
    const validTo = p.current.validTo.getTime();
    expect(renewer.due).toBe(p.current.validFrom.getTime() + (validTo - p.current.validFrom.getTime()) * 0.8);
    await vi.advanceTimersByTimeAsync(renewer.due! - Date.now());
    await vi.waitFor(() => expect(attempts).toBe(1));
    expect(logs.at(-1)).toMatch(/^renewing the node certificate failed \(UNAVAILABLE: no connection\); retrying in 60 s/);
    expect(renewer.due! - attemptAt).toBe(60_000);

    // Close to expiry: a tenth of what is left, and nothing at or past it.
    vi.setSystemTime(validTo - 160_000); // the pending retry then runs 100 s before expiry
    await vi.advanceTimersByTimeAsync(60_000);
    await vi.waitFor(() => expect(attempts).toBe(2));
    expect(renewer.due! - attemptAt).toBe(Math.floor((validTo - attemptAt) / 10));
    expect(renewer.due! - attemptAt).toBeLessThan(10_100);
    vi.setSystemTime(validTo - 10_200);
    await vi.advanceTimersByTimeAsync(10_000);
    await vi.waitFor(() => expect(attempts).toBe(3));
    expect(renewer.due).toBeUndefined();
    expect(logs.at(-1)).toMatch(/expires at .* before another try: remove .*node\.pem and join again with a token$/);
    expect(vi.getTimerCount()).toBe(0);
    await renewer.stop();
  });

  it('stops: nothing runs after stop(), and its timers do not hold the process', async () => {
    const p = provider();
    const renew = vi.fn(async () => 'x');
    const renewer = new CertificateRenewer({ name: 'n1', files, provider: p, log: (l) => logs.push(l), random: () => 0.5, renew });
    renewer.start();
    await renewer.stop();
    await vi.advanceTimersByTimeAsync(200 * DAY);
    expect(renew).not.toHaveBeenCalled();
  });
});
