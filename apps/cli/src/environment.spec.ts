import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { berth, json, StandIn } from './__fixtures__/stand-in';
import { formatAccessConfig } from '@berth/api';
import { chooseConfigFile, configPathIn, loadClientConfig, parseClientConfig, type CliEnvironment } from './environment';
import { ConfigFileModeError, exitCodeFor, UsageError } from './errors';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n-----END CERTIFICATE-----\n';
const TOKEN = 'BERTHA1-abcdefghijkl.0123456789abcdefghijklmnopqrstuv';

let home: string;
let env: CliEnvironment;
let notices: string[];
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'berth-home-'));
  env = Object.freeze({ configPath: configPathIn(home), home, isRoot: false, hostname: 'box', version: '0.0.0' });
  notices = [];
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

const notice = (line: string) => notices.push(line);

function write(path: string, text: string, mode = 0o600): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  return path;
}

describe('chooseConfigFile', () => {
  it('takes --config, else BERTH_CONFIG, else ~/.berth/config', () => {
    const withEnv = { ...env, configFromEnv: '/etc/berth/ci.yaml' };
    expect(chooseConfigFile('/tmp/admin.yaml', withEnv)).toEqual({ path: '/tmp/admin.yaml', namedBy: '--config' });
    expect(chooseConfigFile(undefined, withEnv)).toEqual({ path: '/etc/berth/ci.yaml', namedBy: 'BERTH_CONFIG' });
    expect(chooseConfigFile(undefined, env)).toEqual({ path: join(home, '.berth', 'config') });
  });

  it('makes a relative path absolute', () => {
    expect(chooseConfigFile('admin.yaml', env).path).toBe(join(process.cwd(), 'admin.yaml'));
  });
});

describe('loadClientConfig', () => {
  it('reads server, ca and token', () => {
    const file = write(join(home, 'admin.yaml'), formatAccessConfig({ server: 'https://10.0.0.1:7070', ca: CA, token: TOKEN }));
    expect(loadClientConfig({ path: file, namedBy: '--config' }, env, notice)).toEqual({ file, exists: true, server: 'https://10.0.0.1:7070', ca: CA, token: TOKEN });
  });

  it('is empty when ~/.berth/config does not exist, but a named file that does not exist is an error', () => {
    expect(loadClientConfig(chooseConfigFile(undefined, env), env, notice)).toEqual({ file: env.configPath, exists: false });
    const missing = join(home, 'nope.yaml');
    expect(() => loadClientConfig({ path: missing, namedBy: '--config' }, env, notice)).toThrow(`--config ${missing}: no such file`);
    expect(() => loadClientConfig({ path: missing, namedBy: 'BERTH_CONFIG' }, env, notice)).toThrow(`BERTH_CONFIG ${missing}: no such file`);
    expect(notices).toEqual([]);
  });

  it('moves ~/.berth/config.json to ~/.berth/config (YAML, 0600) once, and says so', () => {
    const legacy = write(join(home, '.berth', 'config.json'), '{\n  "server": "http://127.0.0.1:7070"\n}\n');
    const config = loadClientConfig(chooseConfigFile(undefined, env), env, notice);
    expect(config).toEqual({ file: env.configPath, exists: true, server: 'http://127.0.0.1:7070' });
    expect(notices).toEqual(['berth: moved ~/.berth/config.json to ~/.berth/config (YAML)']);
    expect(existsSync(legacy)).toBe(false);
    expect(readFileSync(env.configPath, 'utf8')).toBe('server: http://127.0.0.1:7070\n');
    expect(statSync(env.configPath).mode & 0o777).toBe(0o600);
    loadClientConfig(chooseConfigFile(undefined, env), env, notice);
    expect(notices).toHaveLength(1);
  });

  it('does not migrate when a file is named, and refuses a config.json it cannot read', () => {
    write(join(home, '.berth', 'config.json'), '{"server":"http://127.0.0.1:7070"}');
    const named = write(join(home, 'admin.yaml'), `token: ${TOKEN}\n`);
    expect(loadClientConfig({ path: named, namedBy: 'BERTH_CONFIG' }, env, notice).server).toBeUndefined();
    expect(notices).toEqual([]);
    write(join(home, '.berth', 'config.json'), '{');
    expect(() => loadClientConfig(chooseConfigFile(undefined, env), env, notice)).toThrow(/config\.json is not valid JSON .*; remove it/);
  });

  it.each([0o644, 0o640, 0o604, 0o660, 0o602])('refuses a file group or others may read or write (mode %o), exit 1', (mode) => {
    const file = write(join(home, 'admin.yaml'), `token: ${TOKEN}\n`, mode);
    const e = (() => {
      try {
        loadClientConfig({ path: file, namedBy: '--config' }, env, notice);
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(ConfigFileModeError);
    expect((e as ConfigFileModeError).message).toBe(`${file} is readable by others (mode 0${mode.toString(8)}): chmod 600 ${file}`);
    expect(exitCodeFor((e as ConfigFileModeError).code)).toBe(1);
  });

  it('refuses a directory', () => {
    expect(() => loadClientConfig({ path: home, namedBy: '--config' }, env, notice)).toThrow(`--config ${home}: not a file`);
  });

  it('refuses the default file too when its mode is open', () => {
    write(env.configPath, 'server: https://127.0.0.1:7070\n', 0o644);
    expect(() => loadClientConfig(chooseConfigFile(undefined, env), env, notice)).toThrow(`${env.configPath} is readable by others (mode 0644): chmod 600 ${env.configPath}`);
  });
});

describe('parseClientConfig', () => {
  it('accepts an empty file and the keys in any order', () => {
    expect(parseClientConfig('', 'c.yaml')).toEqual({});
    expect(parseClientConfig('# nothing yet\n', 'c.yaml')).toEqual({});
    expect(parseClientConfig(`token: ${TOKEN}\nserver: https://h:1\n`, 'c.yaml')).toEqual({ token: TOKEN, server: 'https://h:1' });
  });

  it.each([
    ['server: [\n', /^c\.yaml:2:1: not valid YAML \(Flow sequence/],
    ['server: a\nserver: b\n', /^c\.yaml:2:1: not valid YAML \(Map keys must be unique\)$/],
    ['- server\n', /^c\.yaml: expected a mapping of server, ca, token$/],
    ['server: https://h:1\nnamespace: prod\n', /^c\.yaml: unknown key "namespace" \(a berth config has server, ca, token\)$/],
    ['server: 7070\n', /^c\.yaml: "server" must be a non-empty string$/],
    ['server:\n  url: https://h:1\n', /^c\.yaml: "server" must be a non-empty string$/],
    ['ca: not a certificate\n', /^c\.yaml: "ca" must be a PEM certificate/],
    ['token: BERTHJ1-abc-def.ghi\n', /^c\.yaml: "token" is not an API token \(BERTHA1-…/],
  ])('refuses %j naming the file (exit 2)', (text, message) => {
    let error: unknown;
    try {
      parseClientConfig(text, 'c.yaml');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(message);
  });
});

describe('formatAccessConfig', () => {
  it('writes server, then ca as a block scalar, then token, and reads back the same', () => {
    const text = formatAccessConfig({ token: TOKEN, ca: CA, server: 'https://127.0.0.1:7070' });
    expect(text).toBe(`server: https://127.0.0.1:7070\nca: |\n  -----BEGIN CERTIFICATE-----\n  MIIBszCCAVmgAwIBAgIUQ\n  -----END CERTIFICATE-----\ntoken: ${TOKEN}\n`);
    expect(parseClientConfig(text, 'c.yaml')).toEqual({ server: 'https://127.0.0.1:7070', ca: CA, token: TOKEN });
  });
});

describe('berth with the old ~/.berth/config.json', () => {
  const api = new StandIn();
  beforeAll(() => api.start());
  afterAll(() => api.stop());

  it('moves it to ~/.berth/config, says so on stderr once, and uses its server', async () => {
    api.on('GET /api/v1/services', json(200, []));
    write(join(home, '.berth', 'config.json'), JSON.stringify({ server: api.url }));
    const first = await berth(api.url, ['get', 'services'], { noServer: true, env });
    expect(first).toMatchObject({ code: 0, err: 'berth: moved ~/.berth/config.json to ~/.berth/config (YAML)\nNo services found.' });
    expect(await berth(api.url, ['get', 'services'], { noServer: true, env })).toMatchObject({ code: 0, err: 'No services found.' });
    expect(api.requests).toEqual(['GET /api/v1/services', 'GET /api/v1/services']);
  });
});

describe('berth --help', () => {
  it('explains --config and where the server comes from', async () => {
    const help = await berth('', ['--help'], { noServer: true, env });
    expect(help.out).toMatch(/--config <file>\s+client config file:\s+server,\s+ca\s+and\s+token/);
    expect(help.out).toMatch(/\$BERTH_CONFIG,\s+~\/\.berth\/config\)/);
    expect(help.out).not.toMatch(/config\.json/);
  });
});
