/** The parts of an OCI image config that decide how a task's process is started. */
export interface ImageConfig {
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  /** In image order; always has PATH (Docker's default when the image sets none). */
  readonly env: Readonly<Record<string, string>>;
  /** `uid`, `uid:gid`, `name` or `name:group`; undefined = root. */
  readonly user?: string;
  readonly workingDir?: string;
}

/** The PATH Docker (and containerd) give a process when the image defines none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Reads the runtime-relevant fields of an OCI image config blob (`application/vnd.oci.image.config.v1+json`,
 * also Docker's v2 config). Missing or malformed fields read as absent rather than failing:
 * images in the wild omit most of them.
 */
export function parseImageConfig(blob: unknown): ImageConfig {
  const config = isRecord(blob) && isRecord(blob.config) ? blob.config : {};
  const env: Record<string, string> = {};
  for (const entry of stringList(config.Env)) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  if (env.PATH === undefined) env.PATH = DEFAULT_PATH;
  const user = typeof config.User === 'string' && config.User !== '' ? config.User : undefined;
  const workingDir = typeof config.WorkingDir === 'string' && config.WorkingDir !== '' ? config.WorkingDir : undefined;
  return { entrypoint: stringList(config.Entrypoint), cmd: stringList(config.Cmd), env, user, workingDir };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
