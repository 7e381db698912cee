import { readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';

export const DEFAULT_SERVER = 'http://127.0.0.1:7070';

/**
 * Everything the CLI takes from its surroundings, read once at start and frozen. Nothing else in
 * the CLI reads `process.env`, the home directory or the config file.
 */
export interface CliEnvironment {
  /** `BERTH_SERVER`, when set and not empty. */
  readonly serverFromEnv?: string;
  /** `server` from `~/.berth/config.json`, when the file exists and names one. */
  readonly serverFromConfig?: string;
  /** Why the config file could not be used (it exists but is not what we write). */
  readonly configProblem?: string;
  readonly configPath: string;
  readonly home: string;
  readonly isRoot: boolean;
  /** This machine's host name, as the OS reports it (the default node name derives from it). */
  readonly hostname: string;
  readonly version: string;
}

export function configPathIn(home: string): string {
  return join(home, '.berth', 'config.json');
}

/** Reads the environment, the config file and the CLI's version into a frozen object. */
export function loadEnvironment(): CliEnvironment {
  const home = homedir();
  const configPath = configPathIn(home);
  const config = readConfig(configPath);
  return Object.freeze({
    serverFromEnv: process.env.BERTH_SERVER?.trim() || undefined,
    ...config,
    configPath,
    home,
    isRoot: process.getuid?.() === 0,
    hostname: hostname(),
    version: readVersion(),
  });
}

function readConfig(path: string): { serverFromConfig?: string; configProblem?: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  return parseConfig(text, path);
}

/** Parses the client config file (`{ "server": URL }`); a broken file is a problem, not a crash. */
export function parseConfig(text: string, path: string): { serverFromConfig?: string; configProblem?: string } {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && 'server' in value && typeof value.server === 'string') {
      return { serverFromConfig: value.server };
    }
    return { configProblem: `${path} has no "server" string` };
  } catch (e) {
    return { configProblem: `${path} is not valid JSON (${(e as Error).message})` };
  }
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
