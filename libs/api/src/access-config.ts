import { Document, isScalar } from 'yaml';

/**
 * The access config file, what `berth server`/`berth up` write as admin.yaml and the CLI reads as
 * `--config`/`BERTH_CONFIG`/`~/.berth/config`: flat YAML with these keys, in this order.
 */
export const ACCESS_CONFIG_KEYS = ['server', 'ca', 'token'] as const;
export type AccessConfigKey = (typeof ACCESS_CONFIG_KEYS)[number];
export type AccessConfig = Partial<Record<AccessConfigKey, string>>;

/** The file's text: `server`, then `ca` (PEM) as a block scalar, then `token`; absent keys left out. */
export function formatAccessConfig(config: AccessConfig): string {
  const ordered = Object.fromEntries(ACCESS_CONFIG_KEYS.filter((k) => config[k] !== undefined).map((k) => [k, config[k]]));
  const doc = new Document(ordered);
  const ca = doc.get('ca', true);
  if (isScalar(ca)) ca.type = 'BLOCK_LITERAL';
  return doc.toString({ lineWidth: 0 });
}
