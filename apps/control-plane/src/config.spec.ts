import { describe, expect, it } from 'vitest';
import { ValidationError } from '@berth/core';
import { formatAddress, parseOptions, type ControlPlaneOptions } from './config';

const base: ControlPlaneOptions = { dataDir: '/var/lib/berth', api: { host: '127.0.0.1', port: 7070 }, grpc: { host: '127.0.0.1', port: 7071 } };

describe('parseOptions', () => {
  it('fills the defaults and freezes the result', () => {
    const c = parseOptions(base);
    expect(c.leaderTtlSeconds).toBe(10);
    expect(c.nodeGraceMs).toBe(15_000);
    expect(c.id).toMatch(/:\d+$/);
    expect(c.etcdEndpoints).toBeUndefined();
    expect(Object.isFrozen(c) && Object.isFrozen(c.api)).toBe(true);
  });

  it('names every bad option at once', () => {
    const err = (() => {
      try {
        parseOptions({ ...base, api: { host: '', port: 1 }, grpc: { host: 'x', port: 70000 }, etcdEndpoints: ['etcd:2379'], leaderTtlSeconds: 0, nodeGraceMs: -1 });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues.map((i) => i.path)).toEqual(['api.host', 'grpc.port', 'etcdEndpoints[0]', 'leaderTtlSeconds', 'nodeGraceMs']);
  });

  it("takes an external etcd's --max-txn-ops, never below etcd's default, and not for the embedded etcd", () => {
    expect(parseOptions({ ...base, etcdEndpoints: ['http://127.0.0.1:2379'], etcdMaxTxnOps: 1024 }).etcdMaxTxnOps).toBe(1024);
    expect(parseOptions({ ...base, etcdEndpoints: ['http://127.0.0.1:2379'] }).etcdMaxTxnOps).toBeUndefined();
    const issues = (opts: ControlPlaneOptions) => {
      try {
        parseOptions(opts);
        return [];
      } catch (e) {
        return (e as ValidationError).issues.map((i) => i.message);
      }
    };
    expect(issues({ ...base, etcdEndpoints: ['http://127.0.0.1:2379'], etcdMaxTxnOps: 64 })).toEqual(["must be a whole number ≥ 128, etcd's default (got 64)"]);
    expect(issues({ ...base, etcdMaxTxnOps: 1024 })).toEqual(['applies to an external etcd only (the embedded one allows 10000)']);
  });

  it('takes TLS settings for an external etcd over https only, and never for the embedded one', () => {
    const tls = { ca: '-----BEGIN CERTIFICATE-----\n…', cert: '-----BEGIN CERTIFICATE-----\n…', key: '-----BEGIN PRIVATE KEY-----\n…' };
    expect(parseOptions({ ...base, etcdEndpoints: ['https://10.0.0.1:2379'], etcdTls: tls }).etcdTls).toEqual(tls);
    const issues = (opts: ControlPlaneOptions) => {
      try {
        parseOptions(opts);
        return [];
      } catch (e) {
        return (e as ValidationError).issues.map((i) => `${i.path}: ${i.message}`);
      }
    };
    expect(issues({ ...base, etcdTls: tls })).toEqual(['etcdTls: applies to an external etcd only (the embedded one makes its own certificates)']);
    expect(issues({ ...base, etcdEndpoints: ['http://10.0.0.1:2379'], etcdTls: tls })).toEqual(['etcdEndpoints[0]: "http://10.0.0.1:2379" is plain HTTP, but TLS settings are given: use https://']);
    expect(issues({ ...base, etcdEndpoints: ['https://10.0.0.1:2379'], etcdTls: { ...tls, key: 'secret' } })).toEqual(['etcdTls.key: must be PEM text']);
  });

  it('takes insecure registries as host:port', () => {
    expect(parseOptions(base).insecureRegistries).toEqual([]);
    expect(parseOptions({ ...base, insecureRegistries: ['10.0.0.5:5000', '[fd00::1]:5000'] }).insecureRegistries).toEqual(['10.0.0.5:5000', '[fd00::1]:5000']);
    expect(() => parseOptions({ ...base, insecureRegistries: ['http://10.0.0.5:5000'] })).toThrow(ValidationError);
  });

  it('does not share arrays with the caller', () => {
    const endpoints = ['http://127.0.0.1:2379'];
    const c = parseOptions({ ...base, etcdEndpoints: endpoints });
    endpoints.push('http://127.0.0.1:2479');
    expect(c.etcdEndpoints).toEqual(['http://127.0.0.1:2379']);
  });
});

describe('formatAddress', () => {
  it('brackets IPv6 hosts', () => {
    expect(formatAddress('::1', 7070)).toBe('[::1]:7070');
    expect(formatAddress('127.0.0.1', 7070)).toBe('127.0.0.1:7070');
  });
});
