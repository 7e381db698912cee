import { mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { isMap, isScalar, parseDocument } from 'yaml';
import { ACCESS_CONFIG_KEYS, formatAccessConfig, type AccessConfigKey } from '@berth/api';
import { ConfigFileModeError, UsageError } from './errors';

/** The control plane's address when neither `--server`, `BERTH_SERVER` nor the config file names one. */
export const DEFAULT_SERVER = 'https://127.0.0.1:7070';

/**
 * Everything the CLI takes from its surroundings, read once at start and frozen. Nothing else in
 * the CLI reads `process.env`, the home directory or the config file: the config file is read
 * (once, on the first request) by loadClientConfig below, because `--config` is known only once
 * the command line is parsed.
 */
export interface CliEnvironment {
  /** `BERTH_SERVER`, when set and not empty. */
  readonly serverFromEnv?: string;
  /** `BERTH_CONFIG`, when set and not empty: the config file to use instead of `~/.berth/config`. */
  readonly configFromEnv?: string;
  /** `BERTH_JOIN_TOKEN`, when set and not empty (`berth agent`'s token when `--token` is absent). */
  readonly joinTokenFromEnv?: string;
  /** The default client config file, `~/.berth/config` (`--config` and `BERTH_CONFIG` name others). */
  readonly configPath: string;
  readonly home: string;
  readonly isRoot: boolean;
  /** This machine's host name, as the OS reports it (the default node name derives from it). */
  readonly hostname: string;
  readonly version: string;
}

export function configPathIn(home: string): string {
  return join(home, '.berth', 'config');
}

/** Reads the environment and the CLI's version into a frozen object. */
export function loadEnvironment(): CliEnvironment {
  const home = homedir();
  return Object.freeze({
    serverFromEnv: nonEmpty(process.env.BERTH_SERVER),
    configFromEnv: nonEmpty(process.env.BERTH_CONFIG),
    joinTokenFromEnv: nonEmpty(process.env.BERTH_JOIN_TOKEN),
    configPath: configPathIn(home),
    home,
    isRoot: process.getuid?.() === 0,
    hostname: hostname(),
    version: readVersion(),
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value?.trim() || undefined;
}

/** The client config file to use, and who named it. */
export interface ConfigFileChoice {
  readonly path: string;
  /** `--config` or `BERTH_CONFIG`; absent for the default `~/.berth/config`. */
  readonly namedBy?: '--config' | 'BERTH_CONFIG';
}

/** `--config FILE`, else `BERTH_CONFIG`, else `~/.berth/config`; named files as absolute paths. */
export function chooseConfigFile(flag: string | undefined, env: CliEnvironment): ConfigFileChoice {
  if (flag) return { path: resolve(flag), namedBy: '--config' };
  if (env.configFromEnv) return { path: resolve(env.configFromEnv), namedBy: 'BERTH_CONFIG' };
  return { path: env.configPath };
}

/** What a client config file says (every key optional), and which file it is. */
export interface ClientConfig {
  /** The file chosen (for messages), whether or not it exists. */
  readonly file: string;
  /** False when the default file does not exist: nothing is configured. */
  readonly exists: boolean;
  readonly server?: string;
  /** PEM of the CA that issued the server's certificate (the cluster CA). */
  readonly ca?: string;
  readonly token?: string;
}

const CONFIG_KEYS = ACCESS_CONFIG_KEYS;
type ConfigKey = AccessConfigKey;

/**
 * Reads the chosen client config file. A named file (`--config`, `BERTH_CONFIG`) must exist; the
 * default one may be absent, and when it is while the old `~/.berth/config.json` exists, that one is
 * moved to it (`notice` says so). A file group or others may read or write is refused
 * (ConfigFileModeError, exit 1), as is one that is not the YAML berth writes (UsageError, exit 2).
 */
export function loadClientConfig(choice: ConfigFileChoice, env: CliEnvironment, notice: (line: string) => void): ClientConfig {
  const { path, namedBy } = choice;
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UsageError(`${path}: cannot be read (${code ?? (e as Error).message})`);
    if (namedBy) throw new UsageError(`${namedBy} ${path}: no such file`);
    if (!migrateLegacyConfig(path, env, notice)) return Object.freeze({ file: path, exists: false });
    stats = statSync(path);
  }
  if (!stats.isFile()) throw new UsageError(`${namedBy ? `${namedBy} ` : ''}${path}: not a file`);
  if ((stats.mode & 0o077) !== 0) throw new ConfigFileModeError(path, stats.mode);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${path}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return Object.freeze({ file: path, exists: true, ...parseClientConfig(text, path) });
}

/**
 * Parses a client config file: a flat YAML mapping of `server`, `ca` and `token`, all strings.
 * Throws UsageError naming the file (and the key) for anything else.
 */
export function parseClientConfig(text: string, file: string): { server?: string; ca?: string; token?: string } {
  const doc = parseDocument(text, { uniqueKeys: true });
  const [error] = doc.errors;
  if (error) {
    const at = error.linePos?.[0];
    const what = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new UsageError(`${file}${at ? `:${at.line}:${at.col}` : ''}: not valid YAML (${what})`);
  }
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return {};
  if (!isMap(doc.contents)) throw new UsageError(`${file}: expected a mapping of ${CONFIG_KEYS.join(', ')}`);
  const config: Partial<Record<ConfigKey, string>> = {};
  for (const pair of doc.contents.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw new UsageError(`${file}: unknown key "${key}" (a berth config has ${CONFIG_KEYS.join(', ')})`);
    }
    const value = isScalar(pair.value) ? pair.value.value : undefined;
    if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`${file}: "${key}" must be a non-empty string`);
    config[key as ConfigKey] = key === 'ca' ? value : value.trim();
  }
  if (config.ca !== undefined && !config.ca.includes('-----BEGIN CERTIFICATE-----')) {
    throw new UsageError(`${file}: "ca" must be a PEM certificate (-----BEGIN CERTIFICATE----- …)`);
  }
  if (config.token !== undefined && !/^BERTHA1-[A-Za-z0-9]+\.[A-Za-z0-9]+$/.test(config.token)) {
    throw new UsageError(`${file}: "token" is not an API token (BERTHA1-…; berth token create --role viewer|deployer|admin makes one)`);
  }
  return config;
}


/** Writes a client config file readable by its owner only, replacing any old one atomically. */
export function writeClientConfigFile(path: string, config: { server?: string; ca?: string; token?: string }): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, formatAccessConfig(config), { mode: 0o600 });
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
    throw e;
  }
}

/**
 * `~/.berth/config.json` (`{ "server": URL }`, what berth wrote before) becomes `~/.berth/config`.
 * False when there is nothing to move.
 */
function migrateLegacyConfig(path: string, env: CliEnvironment, notice: (line: string) => void): boolean {
  const legacy = join(dirname(path), 'config.json');
  if (legacy === path) return false;
  let text: string;
  try {
    text = readFileSync(legacy, 'utf8');
  } catch {
    return false;
  }
  let server: unknown;
  try {
    server = (JSON.parse(text) as { server?: unknown } | null)?.server;
  } catch (e) {
    throw new UsageError(`${legacy} is not valid JSON (${(e as Error).message}); remove it (berth now reads ${path}, YAML)`);
  }
  if (typeof server !== 'string') throw new UsageError(`${legacy} has no "server" string; remove it (berth now reads ${path}, YAML)`);
  writeClientConfigFile(path, { server });
  unlinkSync(legacy);
  notice(`berth: moved ${tilde(legacy, env.home)} to ${tilde(path, env.home)} (YAML)`);
  return true;
}

function tilde(path: string, home: string): string {
  return home && path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
}

function readVersion(): string {
  // dist/main.js and src/main.ts both sit one level below the package's package.json.
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
