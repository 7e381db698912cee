/**
 * Image references a task template may name: an OCI layout on the node's disk
 * (`oci:/abs/path[:tag]`) or a registry reference in the distribution grammar
 * (`host[:port]/repo[:tag][@sha256:<64 hex>]`, or `repo:tag` without a registry host).
 */
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const OCI_LAYOUT = /^oci:(\/[^:\s]*)(?::([^:\s]+))?$/;

export const IMAGE_FORMS = 'use host[:port]/repo[:tag][@sha256:<64 hex>], repo:tag, or oci:/abs/path[:tag]';

/** Why `ref` is not an image reference, or undefined when it is one. */
export function imageProblem(ref: string): string | undefined {
  if (ref.trim() === '') return 'must not be empty';
  if (ref.startsWith('oci:')) return ociProblem(ref);
  const [name, digest, ...more] = ref.split('@');
  if (more.length > 0 || (digest !== undefined && !DIGEST.test(digest))) {
    return `${JSON.stringify(ref)} has a malformed digest (use @sha256:<64 lowercase hex digits>)`;
  }
  const slash = name!.indexOf('/');
  const first = slash < 0 ? '' : name!.slice(0, slash);
  // Docker's rule: the first component names a registry when it looks like a host.
  const hasHost = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  const rest = hasHost ? name!.slice(slash + 1) : name!;
  if (hasHost && !HOST.test(first)) return `${JSON.stringify(first)} is not a registry host[:port] (${IMAGE_FORMS})`;
  const colon = rest.lastIndexOf(':');
  const repo = colon < 0 ? rest : rest.slice(0, colon);
  const tag = colon < 0 ? undefined : rest.slice(colon + 1);
  if (!REPOSITORY.test(repo) || (tag !== undefined && !TAG.test(tag))) {
    return `${JSON.stringify(ref)} is not an image reference (${IMAGE_FORMS})`;
  }
  if (!hasHost && tag === undefined && digest === undefined) {
    return `${JSON.stringify(ref)} names no registry host, tag or digest (${IMAGE_FORMS})`;
  }
  return undefined;
}

function ociProblem(ref: string): string | undefined {
  const m = OCI_LAYOUT.exec(ref);
  if (!m || m[1]!.split('/').includes('..')) {
    return `${JSON.stringify(ref)} is not an OCI layout reference (use oci:/abs/path or oci:/abs/path:tag)`;
  }
  if (m[2] !== undefined && !TAG.test(m[2])) return `${JSON.stringify(m[2])} is not a valid tag`;
  return undefined;
}
