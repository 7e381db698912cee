import { DEFAULT_SERVER, type CliEnvironment } from '../environment';
import { UsageError } from '../errors';

/**
 * Picks the control plane's URL: `--server` > `BERTH_SERVER` > `~/.berth/config.json` >
 * `http://127.0.0.1:7070`. Throws UsageError when the chosen value is not an http(s) URL, or when
 * the config file would be used but is broken.
 */
export function resolveServer(flag: string | undefined, env: CliEnvironment): string {
  if (flag) return normalizeServerUrl(flag, '--server');
  if (env.serverFromEnv) return normalizeServerUrl(env.serverFromEnv, 'BERTH_SERVER');
  if (env.configProblem) throw new UsageError(`${env.configProblem}; fix or remove it, or pass --server`);
  if (env.serverFromConfig) return normalizeServerUrl(env.serverFromConfig, env.configPath);
  return DEFAULT_SERVER;
}

/** `host:port` gets `http://`; the result has no trailing slash. */
export function normalizeServerUrl(value: string, source: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`${source}: "${value}" is not a URL (expected e.g. http://127.0.0.1:7070)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${source}: "${value}" must be an http:// or https:// URL`);
  }
  return url.toString().replace(/\/+$/, '');
}
