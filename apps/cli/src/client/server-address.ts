import { chooseConfigFile, DEFAULT_SERVER, loadClientConfig, type CliEnvironment, type ClientConfig } from '../environment';
import { UsageError } from '../errors';
import type { BerthClientOptions } from './http-client';

/**
 * Picks the control plane's URL: `--server` > `BERTH_SERVER` > the config file's `server` >
 * https://127.0.0.1:7070. Throws UsageError, naming where the value came from, when the chosen one
 * is not an http(s) URL.
 */
export function resolveServer(flag: string | undefined, env: CliEnvironment, config: Pick<ClientConfig, 'file' | 'server'>): string {
  if (flag) return normalizeServerUrl(flag, '--server');
  if (env.serverFromEnv) return normalizeServerUrl(env.serverFromEnv, 'BERTH_SERVER');
  if (config.server) return normalizeServerUrl(config.server, config.file);
  return DEFAULT_SERVER;
}

/**
 * Everything a BerthClient needs: the config file (`--config` > `BERTH_CONFIG` > ~/.berth/config)
 * supplies `ca` and `token` and a default server; `--server` or `BERTH_SERVER` override the server
 * only. `notice` gets the one line saying an old config.json was moved.
 */
export function resolveConnection(flags: { readonly server?: string; readonly config?: string }, env: CliEnvironment, notice: (line: string) => void): BerthClientOptions {
  const config = loadClientConfig(chooseConfigFile(flags.config, env), env, notice);
  return {
    server: resolveServer(flags.server, env, config),
    configFile: config.file,
    ...(config.ca === undefined ? {} : { ca: config.ca }),
    ...(config.token === undefined ? {} : { token: config.token }),
  };
}

/** `host:port` gets `https://`; the result has no trailing slash. */
export function normalizeServerUrl(value: string, source: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `https://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`${source}: "${value}" is not a URL (expected e.g. https://127.0.0.1:7070)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${source}: "${value}" must be an https:// or http:// URL`);
  }
  return url.toString().replace(/\/+$/, '');
}
