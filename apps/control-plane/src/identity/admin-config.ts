import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parse } from 'yaml';
import { formatAccessConfig } from '@berth/api';
import type { TokenService } from './tokens.service';

/** What a client needs to use the API as an admin: where, which CA to trust, which token. */
export interface AdminConfig {
  readonly server: string;
  readonly ca: string;
  readonly token: string;
}


function parseAdminConfig(text: string): Partial<AdminConfig> {
  const value: unknown = parse(text);
  if (typeof value !== 'object' || value === null) return {};
  const v = value as Record<string, unknown>;
  return {
    ...(typeof v.server === 'string' ? { server: v.server } : {}),
    ...(typeof v.ca === 'string' ? { ca: v.ca } : {}),
    ...(typeof v.token === 'string' ? { token: v.token } : {}),
  };
}

/**
 * The admin config file (`admin.yaml`, mode 0600) of a control plane: its server URL, the cluster
 * CA and an admin token. The token of an existing file is kept while it is still a valid admin
 * token (restarts do not mint new ones); otherwise a new one is made. Server and CA are rewritten
 * each start (the address may have changed).
 */
export async function ensureAdminConfig(file: string, o: { readonly server: string; readonly ca: string; readonly tokens: TokenService; readonly owner: string }): Promise<AdminConfig> {
  const existing: Partial<AdminConfig> = await readFile(file, 'utf8').then(parseAdminConfig, (e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return {};
    throw e;
  });
  let token = existing.token;
  if (token !== undefined) {
    const check = await o.tokens.check(token);
    if ('refused' in check || check.token.role !== 'admin') token = undefined;
  }
  token ??= (await o.tokens.create({ role: 'admin', description: `admin.yaml of ${o.owner}` })).token;
  const config = { server: o.server, ca: o.ca, token };
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, formatAccessConfig(config), { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  return config;
}
