import { describe, expect, it } from 'vitest';
import type { CliEnvironment } from '../environment';
import { normalizeServerUrl, resolveServer } from './server-address';

const env = (over: Partial<CliEnvironment> = {}): CliEnvironment => ({
  configPath: '/home/u/.berth/config',
  home: '/home/u',
  isRoot: false,
  hostname: 'box',
  version: '0.1.0',
  ...over,
});

describe('resolveServer', () => {
  const file = { file: '/home/u/.berth/config' };
  it('prefers --server over BERTH_SERVER over the config file over the default', () => {
    const all = env({ serverFromEnv: 'https://env:1' });
    const config = { ...file, server: 'https://cfg:2' };
    expect(resolveServer('https://flag:3', all, config)).toBe('https://flag:3');
    expect(resolveServer(undefined, all, config)).toBe('https://env:1');
    expect(resolveServer(undefined, env(), config)).toBe('https://cfg:2');
    expect(resolveServer(undefined, env(), file)).toBe('https://127.0.0.1:7070');
  });

  it("names the config file when its server is not a URL, but only when it would be used", () => {
    const config = { ...file, server: 'ftp://x' };
    expect(() => resolveServer(undefined, env(), config)).toThrow('/home/u/.berth/config: "ftp://x" must be an https:// or http:// URL');
    expect(resolveServer('https://flag:3', env(), config)).toBe('https://flag:3');
  });
});

describe('normalizeServerUrl', () => {
  it('adds https:// to host:port, keeps http://, and drops trailing slashes', () => {
    expect(normalizeServerUrl('10.0.0.1:7070', '--server')).toBe('https://10.0.0.1:7070');
    expect(normalizeServerUrl('http://10.0.0.1:7070', '--server')).toBe('http://10.0.0.1:7070');
    expect(normalizeServerUrl('https://berth.example/', '--server')).toBe('https://berth.example');
  });

  it('refuses other schemes and non-URLs, naming where the value came from', () => {
    expect(() => normalizeServerUrl('ftp://x', 'BERTH_SERVER')).toThrow(/BERTH_SERVER: "ftp:\/\/x" must be an https/);
    expect(() => normalizeServerUrl('http://', '--server')).toThrow(/--server: "http:\/\/" is not a URL/);
  });
});
