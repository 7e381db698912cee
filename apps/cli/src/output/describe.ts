import type { NodeView, ServiceView, TaskView, UpdateView } from '@berth/api';
import { DEFAULT_TASK_PIDS, formatMemory, READ_ONLY_ROOT_TMP_BYTES, USER_NAMESPACE_IDS } from '@berth/core';
import { formatAge } from './age';
import type { Field, FieldValue } from './fields';
import { renderFields } from './fields';
import { formatDrivers, formatLabels, formatPort } from './lists';
import { cell, renderTable } from './table';

/** `berth describe service NAME`: metadata, the spec with every default, status and its tasks. */
export function describeService(s: ServiceView, tasks: readonly TaskView[], now: Date): string {
  const t = s.spec.template;
  const fields: Field[] = [
    ['Name', s.metadata.name],
    ['Labels', labelLines(s.metadata.labels)],
    ['Generation', String(s.metadata.generation)],
    ['Revision', String(s.metadata.revision)],
    ['Resource Version', s.metadata.resourceVersion],
    ['Created', when(s.metadata.createdAt, now)],
    ['Updated', when(s.metadata.updatedAt, now)],
    ['Mode', s.spec.mode],
    ['Replicas', `${s.status.desired} desired | ${s.status.running} running | ${s.status.updated} updated`],
    ['Rollout', rolloutFields(s, now)],
    ['Template', templateFields(t, s.status.imageDigest)],
    ...(t.runtime === 'container' ? [['Security', securityFields(t.securityContext)] as const] : []),
    ['Restart Policy', restartFields(s.spec.restartPolicy)],
    ['Update', updateFields(s.spec.update)],
    ['Rollback', updateFields(s.spec.rollback)],
    ['Placement', placementFields(s.spec.placement)],
  ];
  return [...renderFields(fields), ...taskSection(tasks, now)].join('\n');
}

function templateFields(t: ServiceView['spec']['template'], digest: string | undefined): Field[] {
  const r = t.resources;
  const fields: Field[] = [
    ['Runtime', t.runtime],
    ['Image', t.image ?? '<none: boots vm.disk>'],
    ['Digest', digestLine(t, digest)],
    ['Command', t.command ? shellWords(t.command) : t.image === undefined ? "<the disk's own init>" : '<image default>'],
    ['Env', Object.keys(t.env).sort().map((k) => `${k}=${t.env[k]}`)],
    ['CPU', r.cpu === undefined ? '<unlimited>' : String(r.cpu)],
    ['Memory', r.memory === undefined ? '<unlimited>' : String(r.memory)],
    ['PIDs', r.pids !== undefined ? String(r.pids) : t.runtime === 'container' ? `${DEFAULT_TASK_PIDS} (default)` : '<unlimited>'],
    ['Ports', t.ports.map(formatPort)],
    ['Health Check', t.healthCheck ? healthLine(t.healthCheck) : ''],
    ['Volumes', t.volumes.map((v) => `${v.name} → ${v.mountPath}`)],
    ['Stop Grace Period', String(t.stopGracePeriod)],
  ];
  if (t.vm) fields.push(['VM vCPUs', String(t.vm.vcpus)], ['VM kernel', t.vm.kernel ?? (t.vm.disk ? "none: the disk's own bootloader boots it" : "default (the node's newest /boot/vmlinuz-*)")]);
  if (t.vm?.disk) fields.push(['VM disk', `${t.vm.disk} (copy-on-write overlay per task)`], ['VM cmdline', t.vm.cmdline ?? '']);
  return fields;
}

/** A container task's confinement: what the template changes, and the defaults (docs/security.md) for the rest. */
function securityFields(s: ServiceView['spec']['template']['securityContext']): Field[] {
  const added = s?.capabilities?.add.map((c) => c.replace(/^CAP_/, '')) ?? [];
  const user = s?.runAsUser === undefined ? "the image's USER" : String(s.runAsUser);
  const group = s?.runAsGroup === undefined ? (s?.runAsUser === undefined ? "the image's" : "the user's in the image, else 0") : String(s.runAsGroup);
  if (s?.privileged) {
    return [
      ['Privileged', 'yes: every capability the node holds, no seccomp filter, nothing masked, the host\'s devices (root on the node; applied with an admin token)'],
      ['Root Filesystem', s.readOnlyRootFilesystem ? `read-only; /tmp a ${formatMemory(READ_ONLY_ROOT_TMP_BYTES)} tmpfs` : 'writable (default)'],
      ['User', `${user}, group ${group}`],
    ];
  }
  return [
    ['Capabilities', added.length > 0 ? `${added.join(', ')} (all others dropped)` : 'none (all dropped, default)'],
    ['Root Filesystem', s?.readOnlyRootFilesystem ? `read-only; /tmp a ${formatMemory(READ_ONLY_ROOT_TMP_BYTES)} tmpfs` : 'writable (default)'],
    ['User', `${user}, group ${group}`],
    ['Seccomp', 'default profile (no mount, unshare, keyctl, io_uring, …)'],
    ['No New Privileges', 'yes'],
    [
      'User Namespace',
      s?.userNamespace
        ? `own: ids 0-${USER_NAMESPACE_IDS - 1} are the node's unprivileged range on the host (root inside is nobody outside)`
        : "none (the host's ids, default)",
    ],
  ];
}

/** The digest every task runs, or why the nodes pull the reference themselves. */
function digestLine(t: ServiceView['spec']['template'], digest: string | undefined): string {
  if (digest !== undefined) return `${digest} (pinned at apply)`;
  if (t.image === undefined) return 'none (no image to pin)';
  return t.imagePull ? `not pinned (imagePull: ${t.imagePull})` : 'not pinned (could not resolve at apply)';
}

function healthLine(h: NonNullable<ServiceView['spec']['template']['healthCheck']>): string {
  return `${probeLine(h)} interval=${h.interval} timeout=${h.timeout} retries=${h.retries} start-period=${h.startPeriod}`;
}

/** `exec wget -qO- …`, `tcp :6379`, `http GET :8080/healthz`. */
function probeLine(h: NonNullable<ServiceView['spec']['template']['healthCheck']>): string {
  if (h.tcp) return `tcp :${h.tcp.port}`;
  if (h.http) return `http GET :${h.http.port}${h.http.path}`;
  return `exec ${shellWords(h.exec ?? [])}`;
}

function restartFields(p: ServiceView['spec']['restartPolicy']): Field[] {
  return [
    ['Condition', p.condition],
    ['Delay', String(p.delay)],
    ['Max Delay', String(p.maxDelay)],
    ['Max Attempts', p.maxAttempts === 0 ? '0 (unlimited)' : String(p.maxAttempts)],
  ];
}

/** The leader's rollout record of the service; `<not started yet>` before it wrote one. */
function rolloutFields(s: ServiceView, now: Date): FieldValue {
  const r = s.status.rollout;
  if (!r) return '<not started yet>';
  const behind = r.revision === s.metadata.revision ? '' : ` (revision ${s.metadata.revision} not started yet)`;
  const from =
    r.rollbackOf !== undefined ? ` (rollback of revision ${r.rollbackOf})` : r.previousRevision === undefined ? '' : ` (previous: ${r.previousRevision})`;
  return [
    ['Revision', `${r.revision}${from}${behind}`],
    ['State', r.state],
    ['Updated', `${r.updated}/${r.total}`],
    ['Failed', String(r.failed)],
    ['Reason', r.reason ?? '-'],
    ['Started', when(r.startedAt, now)],
    ['Last Change', when(r.updatedAt, now)],
    ['Completed', when(r.completedAt, now)],
  ];
}

function updateFields(u: UpdateView): Field[] {
  return [
    ['Parallelism', u.parallelism === 0 ? '0 (all at once)' : String(u.parallelism)],
    ['Delay', String(u.delay)],
    ['Monitor', String(u.monitor)],
    ['Max Failure Ratio', String(u.maxFailureRatio)],
    ['Failure Action', u.failureAction],
    ['Order', u.order],
  ];
}

function placementFields(p: ServiceView['spec']['placement']): Field[] {
  return [
    ['Strategy', p.strategy],
    ['Max Per Node', p.maxPerNode === 0 ? '0 (unlimited)' : String(p.maxPerNode)],
    ['Spread By', p.spreadBy ?? '<none>'],
    ['Constraints', [...p.constraints]],
  ];
}

function taskSection(tasks: readonly TaskView[], now: Date): string[] {
  if (tasks.length === 0) return renderFields([['Tasks', '']]);
  const rows = [...tasks]
    .sort((a, b) => a.metadata.slot - b.metadata.slot || a.metadata.name.localeCompare(b.metadata.name))
    .map((t) => [t.metadata.name, String(t.metadata.slot), t.status.state, cell(t.status.health), cell(t.status.node ?? t.spec.node), formatAge(t.metadata.createdAt, now)]);
  const table = renderTable(['name', 'slot', 'state', 'health', 'node', 'age'], rows);
  return ['Tasks:', ...table.split('\n').map((line) => `  ${line}`)];
}

/** `berth describe task ID`. */
export function describeTask(t: TaskView, now: Date): string {
  const fields: Field[] = [
    ['Name', t.metadata.name],
    ['Service', t.metadata.service],
    ['Slot', String(t.metadata.slot)],
    ['Desired State', t.spec.desiredState],
    ['State', t.status.state],
    ['Health', t.status.health ?? '<no health check>'],
    ['Node', cell(t.status.node ?? t.spec.node)],
    ['PID', cell(t.status.pid)],
    ['IP', cell(t.status.ip)],
    ['Exit Code', cell(t.status.exitCode)],
    ['Message', cell(t.status.message)],
    ['Created', when(t.metadata.createdAt, now)],
    ['Started', when(t.status.startedAt, now)],
  ];
  return renderFields(fields).join('\n');
}

/** `berth describe node NAME`, with the tasks placed on it. */
export function describeNode(n: NodeView, tasks: readonly TaskView[], now: Date): string {
  const fields: Field[] = [
    ['Name', n.metadata.name],
    ['Labels', labelLines(n.metadata.labels)],
    ['State', n.status.state === 'down' && n.status.downSince ? `down since ${when(n.status.downSince, now)}` : n.status.state],
    ['Availability', n.spec.availability],
    ['Address', cell(n.status.address)],
    ['Capacity', [['CPU', cell(n.status.capacity.cpu)], ['Memory', cell(n.status.capacity.memory)]]],
    ['Allocated', [['CPU', n.status.allocated.cpu], ['Memory', n.status.allocated.memory], ['Tasks', String(n.status.tasks)]]],
    ['Drivers', cell(formatDrivers(n))],
  ];
  return [...renderFields(fields), ...taskSection(tasks, now)].join('\n');
}

function labelLines(labels: Readonly<Record<string, string>>): string[] {
  return formatLabels(labels).split(',').filter((l) => l.length > 0);
}

function when(timestamp: string | undefined, now: Date): string {
  return timestamp ? `${timestamp} (${formatAge(timestamp, now)} ago)` : '-';
}

/** Joins argv words for reading, quoting those a shell would split. */
export function shellWords(words: readonly string[]): string {
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}
