import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors';
import { isLoopback, parseEtcdEndpoints, parseHostPort, parseKind, parseMaxTxnOps, parseScaleArgs } from './args';

describe('parseHostPort', () => {
  it.each([
    ['127.0.0.1:7070', { host: '127.0.0.1', port: 7070 }],
    ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
    ['localhost:80', { host: 'localhost', port: 80 }],
    ['[::1]:7071', { host: '::1', port: 7071 }],
  ])('%s', (input, want) => {
    expect(parseHostPort(input, '--api')).toEqual(want);
  });

  it.each(['7070', '127.0.0.1', '127.0.0.1:70700', ':7070', 'a b:1', '::1:7070'])('refuses %j naming the option', (input) => {
    expect(() => parseHostPort(input, '--grpc')).toThrow(/--grpc must be HOST:PORT/);
  });
});

describe('isLoopback', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['10.0.0.5', false],
    ['::', false],
  ])('%s → %s', (host, want) => {
    expect(isLoopback(host)).toBe(want);
  });
});

describe('parseMaxTxnOps', () => {
  it('takes a whole number and names the flag otherwise', () => {
    expect(parseMaxTxnOps('1024')).toBe(1024);
    expect(() => parseMaxTxnOps('1k')).toThrow('--etcd-max-txn-ops: "1k" is not a whole number');
  });
});

describe('parseEtcdEndpoints', () => {
  it('splits and trims a comma-separated list', () => {
    expect(parseEtcdEndpoints('http://a:2379, http://b:2379,')).toEqual(['http://a:2379', 'http://b:2379']);
  });
  it.each(['', 'a:2379', 'http://a:2379/v3/kv', 'ftp://a:1'])('refuses %j', (input) => {
    expect(() => parseEtcdEndpoints(input)).toThrow(UsageError);
  });
});

describe('parseScaleArgs', () => {
  it('parses every SERVICE=N', () => {
    expect(parseScaleArgs(['web=5', 'api=0', 'db=10000'])).toEqual([
      { service: 'web', replicas: 5 },
      { service: 'api', replicas: 0 },
      { service: 'db', replicas: 10000 },
    ]);
  });

  it.each([
    ['web', /not SERVICE=N/],
    ['web=', /integer between 0 and 10000 \(got ""\)/],
    ['web=-1', /got "-1"/],
    ['web=2.5', /got "2.5"/],
    ['web=10001', /got "10001"/],
    ['web=five', /got "five"/],
    ['Web=1', /service name/],
    ['=3', /service name must not be empty/],
  ])('refuses %j', (arg, message) => {
    expect(() => parseScaleArgs([arg])).toThrow(message);
  });

  it('reports every bad argument at once', () => {
    expect(() => parseScaleArgs(['web=x', 'ok=1', 'api=-2'])).toThrow(/web=x[\s\S]*api=-2/);
  });

  it('needs at least one argument', () => {
    expect(() => parseScaleArgs([])).toThrow(UsageError);
  });
});

describe('parseKind', () => {
  it.each([
    ['svc', 'services'],
    ['service', 'services'],
    ['Services', 'services'],
    ['task', 'tasks'],
    ['tasks', 'tasks'],
    ['no', 'nodes'],
    ['node', 'nodes'],
    ['nodes', 'nodes'],
  ])('%s → %s', (input, want) => {
    expect(parseKind(input)).toBe(want);
  });

  it('names the accepted kinds when it does not know one', () => {
    expect(() => parseKind('pods')).toThrow('unknown resource type "pods" (use services, tasks or nodes)');
  });
});
