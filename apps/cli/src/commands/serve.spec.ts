import { describe, expect, it } from 'vitest';
import type { CliEnvironment } from '../environment';
import { clientServerUrl, defaultDataDir, grpcWarning, listenerLines } from './serve';

const env = (isRoot: boolean): CliEnvironment => ({ configPath: '/home/u/.berth/config.json', home: '/home/u', isRoot, hostname: 'box', version: '0.1.0' });

describe('defaultDataDir', () => {
  it('uses /var/lib/berth as root and the XDG data home otherwise', () => {
    expect(defaultDataDir(env(true))).toBe('/var/lib/berth');
    expect(defaultDataDir(env(true), 'up')).toBe('/var/lib/berth/up');
    expect(defaultDataDir(env(false))).toBe('/home/u/.local/share/berth');
    expect(defaultDataDir(env(false), 'up')).toBe('/home/u/.local/share/berth/up');
  });
});

describe('listenerLines', () => {
  const running = { apiUrl: 'http://127.0.0.1:7070', grpcAddress: '127.0.0.1:7071', etcdEndpoints: ['http://127.0.0.1:23790'] };
  it('prints one line per listener, saying whether etcd is embedded', () => {
    expect(listenerLines(running, true)).toEqual([
      'berth: API on http://127.0.0.1:7070',
      'berth: agents on 127.0.0.1:7071',
      'berth: etcd embedded at http://127.0.0.1:23790',
    ]);
    expect(listenerLines({ ...running, etcdEndpoints: ['http://a:2379', 'http://b:2379'] }, false)[2]).toBe(
      'berth: etcd at http://a:2379,http://b:2379',
    );
  });
});

describe('grpcWarning', () => {
  it('warns only when agents could connect from elsewhere', () => {
    expect(grpcWarning({ host: '127.0.0.1', port: 7071 })).toBeUndefined();
    expect(grpcWarning({ host: '::1', port: 7071 })).toBeUndefined();
    expect(grpcWarning({ host: '0.0.0.0', port: 7071 })).toMatch(/agents on 0\.0\.0\.0:7071 are unauthenticated/);
    expect(grpcWarning({ host: '::', port: 7071 })).toMatch(/agents on \[::\]:7071 are unauthenticated/);
  });
});

describe('clientServerUrl', () => {
  it('reaches a wildcard listener through loopback', () => {
    expect(clientServerUrl('http://0.0.0.0:7070')).toBe('http://127.0.0.1:7070');
    expect(clientServerUrl('http://[::]:7070')).toBe('http://[::1]:7070');
    expect(clientServerUrl('http://10.0.0.5:7070')).toBe('http://10.0.0.5:7070');
  });
});
