import { describe, expect, it } from 'vitest';
import type { CliEnvironment } from '../environment';
import { parseConfig } from '../environment';
import { normalizeServerUrl, resolveServer } from './server-address';

const env = (over: Partial<CliEnvironment> = {}): CliEnvironment => ({
  configPath: '/home/u/.berth/config.json',
  home: '/home/u',
  isRoot: false,
  hostname: 'box',
  version: '0.1.0',
  ...over,
});

describe('resolveServer', () => {
  it('prefers --server over BERTH_SERVER over the config file over the default', () => {
    const all = env({ serverFromEnv: 'http://env:1', serverFromConfig: 'http://cfg:2' });
    expect(resolveServer('http://flag:3', all)).toBe('http://flag:3');
    expect(resolveServer(undefined, all)).toBe('http://env:1');
    expect(resolveServer(undefined, env({ serverFromConfig: 'http://cfg:2' }))).toBe('http://cfg:2');
    expect(resolveServer(undefined, env())).toBe('http://127.0.0.1:7070');
  });

  it('complains about a broken config file only when it would be used', () => {
    const broken = env({ configProblem: '/home/u/.berth/config.json is not valid JSON' });
    expect(() => resolveServer(undefined, broken)).toThrow(/not valid JSON; fix or remove it, or pass --server/);
    expect(resolveServer('http://flag:3', broken)).toBe('http://flag:3');
  });
});

describe('normalizeServerUrl', () => {
  it('adds http:// to host:port and drops trailing slashes', () => {
    expect(normalizeServerUrl('10.0.0.1:7070', '--server')).toBe('http://10.0.0.1:7070');
    expect(normalizeServerUrl('https://berth.example/', '--server')).toBe('https://berth.example');
  });

  it('refuses other schemes and non-URLs, naming where the value came from', () => {
    expect(() => normalizeServerUrl('ftp://x', 'BERTH_SERVER')).toThrow(/BERTH_SERVER: "ftp:\/\/x" must be an http/);
    expect(() => normalizeServerUrl('http://', '--server')).toThrow(/--server: "http:\/\/" is not a URL/);
  });
});

describe('parseConfig', () => {
  it('reads the server written by berth server', () => {
    expect(parseConfig('{"server":"http://127.0.0.1:7070"}', 'c.json')).toEqual({ serverFromConfig: 'http://127.0.0.1:7070' });
  });
  it('reports a file that is not JSON or has no server', () => {
    expect(parseConfig('{', 'c.json').configProblem).toMatch(/^c\.json is not valid JSON/);
    expect(parseConfig('{"srv":1}', 'c.json').configProblem).toBe('c.json has no "server" string');
  });
});
