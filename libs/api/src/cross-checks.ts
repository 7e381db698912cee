import { MAX_TASK_ID, parseDuration, USER_NAMESPACE_IDS } from '@berth/core';
import { isMapping, type PathSegment } from './rules';

/** A problem located by its path from the document root. */
export interface FieldProblem {
  readonly path: readonly PathSegment[];
  readonly message: string;
  /** Report the position of the key rather than of the value (unknown fields). */
  readonly onKey?: boolean;
}

/**
 * Rules that relate several fields. They run on the raw document beside the per-field rules, and
 * only look at fields that are individually valid, so one mistake is reported once.
 */
export function crossFieldProblems(doc: Record<string, unknown>): FieldProblem[] {
  const spec = doc['spec'];
  if (!isMapping(spec)) return [];
  const out: FieldProblem[] = [];
  if (spec['mode'] === 'global' && spec['replicas'] != null) {
    out.push({
      path: ['spec', 'replicas'],
      message: 'must not be given with mode "global" (a global service runs one task on every eligible node)',
    });
  }
  const placement = spec['placement'];
  if (spec['mode'] === 'global' && isMapping(placement) && placement['spreadBy'] != null) {
    out.push({
      path: ['spec', 'placement', 'spreadBy'],
      message: 'must not be given with mode "global": a global service runs exactly one task on each eligible node, so there is nothing to spread (placement.constraints choose the nodes)',
    });
  }
  const template = spec['template'];
  if (isMapping(template)) out.push(...templateProblems(template));
  const restart = spec['restartPolicy'];
  if (isMapping(restart)) out.push(...restartProblems(restart));
  for (const field of ['update', 'rollback'] as const) {
    const config = spec[field];
    if (isMapping(config) && isMapping(template)) out.push(...updateProblems(field, config, template));
  }
  return out;
}

/**
 * start-first needs old and new task side by side; a host port can be held by only one of them on
 * a node. The same holds for a rollback, whose "new" task is the previous revision's.
 */
function updateProblems(field: 'update' | 'rollback', u: Record<string, unknown>, t: Record<string, unknown>): FieldProblem[] {
  if (u['order'] !== 'start-first') return [];
  const published = mappings(t['ports']).find((p) => hostPortKey(p) !== undefined);
  if (!published) return [];
  return [
    {
      path: ['spec', field, 'order'],
      message: `"start-first" cannot be used with a hostPort (ports[${published.index}] publishes ${hostPortKey(published)}): the new task would need the port while the old one still holds it; use "stop-first"`,
    },
  ];
}

/** What a VM task cannot do (yet): refused, never accepted and ignored. */
function vmProblems(t: Record<string, unknown>, at: (...rest: PathSegment[]) => PathSegment[]): FieldProblem[] {
  const out: FieldProblem[] = [];
  const resources = t['resources'];
  if (isMapping(resources) && resources['pids'] != null) {
    out.push({ path: at('resources', 'pids'), message: 'is not supported for runtime "vm": the guest kernel runs the processes; cpu and memory limit a VM' });
  }
  const vm = t['vm'];
  if (isMapping(vm)) out.push(...diskProblems(t, vm, at));
  return out;
}

/** What the berth init inside the guest would carry out, and a VM booted from vm.disk has none of. */
const NEEDS_BERTH_INIT = ['imagePull', 'command', 'env', 'volumes'] as const;

/**
 * `vm.disk` boots a whole OS from a disk image: no OCI image, and no berth init inside to run a
 * command, set env, mount volumes or run exec checks — such fields are refused, never ignored.
 */
function diskProblems(t: Record<string, unknown>, vm: Record<string, unknown>, at: (...rest: PathSegment[]) => PathSegment[]): FieldProblem[] {
  const out: FieldProblem[] = [];
  if (vm['disk'] == null) {
    if (vm['cmdline'] != null) out.push({ path: at('vm', 'cmdline'), message: 'is only allowed with vm.disk and vm.kernel (kernel arguments of a VM booted from a disk image)' });
    return out;
  }
  if (t['image'] != null) {
    out.push({ path: at('vm', 'disk'), message: 'cannot be given with image: a VM boots either an OCI image (image) or a whole disk image (vm.disk); remove one' });
  }
  if (vm['kernel'] == null) {
    if (vm['cmdline'] != null) {
      out.push({ path: at('vm', 'cmdline'), message: "needs vm.kernel: a disk booted through its own bootloader (no vm.kernel) takes its kernel arguments from its own boot configuration" });
    }
  } else if (vm['kernel'] === 'default') {
    out.push({ path: at('vm', 'kernel'), message: 'must be the absolute path of a kernel image with vm.disk, like "/boot/vmlinuz-6.1.0-57-amd64": the disk is booted with that kernel, whose modules the disk should hold too' });
  }
  const why = 'no berth init runs inside a VM booted from vm.disk to act on it';
  for (const field of NEEDS_BERTH_INIT) {
    if (t[field] != null) out.push({ path: at(field), message: `is not supported with vm.disk: ${why} (configure the disk's own OS instead)`, onKey: true });
  }
  const check = t['healthCheck'];
  if (isMapping(check) && check['exec'] != null) {
    out.push({ path: at('healthCheck', 'exec'), message: `is not supported with vm.disk: ${why}; use a tcp or http check`, onKey: true });
  }
  return out;
}

function templateProblems(t: Record<string, unknown>): FieldProblem[] {
  const at = (...rest: PathSegment[]): PathSegment[] => ['spec', 'template', ...rest];
  const out: FieldProblem[] = [];
  if (t['vm'] != null && t['runtime'] !== 'vm') {
    out.push({ path: at('vm'), message: `is only allowed with runtime "vm" (runtime is "${String(t['runtime'] ?? 'container')}")` });
  }
  if (t['runtime'] === 'vm') out.push(...vmProblems(t, at), ...vmSecurityProblems(t, at));
  else if (isMapping(t['securityContext']) && t['securityContext']['userNamespace'] === true) out.push(...userNamespaceProblems(t, at));
  const disk = isMapping(t['vm']) && t['vm']['disk'] != null;
  if (t['image'] == null && !disk) out.push({ path: at('image'), message: 'is required' });
  const check = t['healthCheck'];
  if (isMapping(check)) out.push(...healthCheckProblems(check, at));
  for (const [dup, first] of duplicates(mappings(t['ports']), hostPortKey)) {
    out.push({
      path: at('ports', dup.index, 'hostPort'),
      message: `${hostPortKey(dup)} is already published by ports[${first.index}] (each host port once per template)`,
    });
  }
  const volumes = mappings(t['volumes']);
  for (const field of ['name', 'mountPath'] as const) {
    const key = (v: Indexed): string | undefined => (typeof v.item[field] === 'string' ? (v.item[field] as string) : undefined);
    for (const [dup, first] of duplicates(volumes, key)) {
      out.push({
        path: at('volumes', dup.index, field),
        message: `${JSON.stringify(dup.item[field])} is already used by volumes[${first.index}] (each volume ${field} once per template)`,
      });
    }
  }
  return out;
}

/** A VM's workload is confined by its own kernel: a container's securityContext would be accepted and ignored. */
function vmSecurityProblems(t: Record<string, unknown>, at: (...rest: PathSegment[]) => PathSegment[]): FieldProblem[] {
  if (t['securityContext'] == null) return [];
  return [
    {
      path: at('securityContext'),
      message: 'is not supported for runtime "vm": the guest kernel isolates the workload (capabilities, users and the root filesystem are the guest\'s own); remove it',
      onKey: true,
    },
  ];
}

/** What a task in its own user namespace cannot have: ids its 65536 cannot map, or the host's privileges. */
function userNamespaceProblems(t: Record<string, unknown>, at: (...rest: PathSegment[]) => PathSegment[]): FieldProblem[] {
  const s = t['securityContext'] as Record<string, unknown>;
  const out: FieldProblem[] = [];
  if (s['privileged'] === true) {
    out.push({ path: at('securityContext', 'privileged'), message: "cannot be combined with userNamespace: true (a privileged task is root on the node; a user-namespaced one is nobody there)" });
  }
  for (const field of ['runAsUser', 'runAsGroup'] as const) {
    const id = s[field];
    if (Number.isInteger(id) && (id as number) >= USER_NAMESPACE_IDS && (id as number) <= MAX_TASK_ID) {
      out.push({ path: at('securityContext', field), message: `must be between 0 and ${USER_NAMESPACE_IDS - 1} with userNamespace: true, the ids a task's user namespace has (got ${String(id)})` });
    }
  }
  return out;
}

const CHECK_KINDS = ['exec', 'tcp', 'http'] as const;

/** A health check runs exactly one kind of probe. */
function healthCheckProblems(h: Record<string, unknown>, at: (...rest: PathSegment[]) => PathSegment[]): FieldProblem[] {
  const given = CHECK_KINDS.filter((kind) => h[kind] != null);
  if (given.length === 1) return [];
  const got = given.length === 0 ? 'none' : `${given.slice(0, -1).join(', ')} and ${given.at(-1)}`;
  return [{ path: at('healthCheck'), message: `must have exactly one of exec, tcp or http, like { http: { port: 8080, path: /healthz } } (got ${got})` }];
}

function restartProblems(r: Record<string, unknown>): FieldProblem[] {
  if (r['delay'] == null || r['maxDelay'] == null) return [];
  const delay = parseDuration(r['delay']);
  const max = parseDuration(r['maxDelay']);
  if (!delay.ok || !max.ok || max.value >= delay.value) return [];
  return [{ path: ['spec', 'restartPolicy', 'maxDelay'], message: `must be at least delay ${JSON.stringify(r['delay'])} (got ${JSON.stringify(r['maxDelay'])})` }];
}

interface Indexed {
  readonly index: number;
  readonly item: Record<string, unknown>;
}

/** "18080/tcp" for a port whose hostPort and protocol are valid, else undefined. */
function hostPortKey({ item }: Indexed): string | undefined {
  const port = item['hostPort'];
  const protocol = item['protocol'] ?? 'tcp';
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) return undefined;
  return protocol === 'tcp' || protocol === 'udp' ? `${String(port)}/${protocol}` : undefined;
}

function mappings(value: unknown): Indexed[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item: unknown, index) => (isMapping(item) ? [{ index, item }] : []));
}

/** Pairs of [later duplicate, first occurrence] by `key`; undefined keys never collide. */
function duplicates(items: readonly Indexed[], key: (i: Indexed) => string | undefined): [Indexed, Indexed][] {
  const seen = new Map<string, Indexed>();
  const out: [Indexed, Indexed][] = [];
  for (const item of items) {
    const k = key(item);
    if (k === undefined) continue;
    const first = seen.get(k);
    if (first) out.push([item, first]);
    else seen.set(k, item);
  }
  return out;
}
