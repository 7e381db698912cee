import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { eventually, runBerth, spawnBerth, type RunResult } from './berth-cli';
import { EventWatch } from './event-watch';

/** `berth get tasks -o json` items (docs/api.md); only the fields the tests read. */
export interface TaskJson {
  metadata: { name: string; service: string; slot: number; createdAt?: string };
  spec: { desiredState: string; node?: string; replaces?: string };
  status: { state: string; node?: string; pid?: number; ip?: string; exitCode?: number; message?: string; health?: string; startedAt?: string };
}

/** `berth get services -o json` items (docs/api.md); only the fields the tests read. */
export interface ServiceJson {
  metadata: { name: string; generation?: number; revision?: number; resourceVersion?: string };
  spec: Record<string, unknown>;
  status: {
    desired: number;
    running: number;
    updated?: number;
    rollout?: { revision: number; state: string; previousRevision?: number; rollbackOf?: number; total: number; updated: number; failed: number; reason?: string };
  };
}

export interface NodeJson {
  metadata: { name: string; labels: Record<string, string> };
  spec: { availability: string };
  status: { state: string; address: string; drivers?: string[]; driverDetails?: Record<string, string> };
}

/** What the tests put in a Service manifest; rendered as one YAML document. */
export interface ServiceSketch {
  readonly name: string;
  /** Absent only for a VM booted from `vm.disk`. */
  readonly image?: string;
  /** Rendered as `template.runtime` (absent: the default, container). */
  readonly runtime?: 'container' | 'vm';
  /** Rendered as `template.vm`: the VM's vCPUs, kernel and disk image (`runtime: vm` only). */
  readonly vm?: { readonly vcpus?: number; readonly kernel?: string; readonly disk?: string };
  readonly env?: Readonly<Record<string, string>>;
  /** `template.resources.cpu`, e.g. "500m" (memory is `memory`). */
  readonly cpu?: string;
  /** `global`: one task per eligible node (no replicas). */
  readonly mode?: 'replicated' | 'global';
  readonly replicas?: number;
  readonly command?: readonly string[];
  readonly memory?: string;
  readonly ports?: readonly { containerPort: number; hostPort?: number }[];
  /** As in the manifest: one of `exec`, `tcp: { port }`, `http: { port, path? }`, and `interval?, timeout?, retries?, startPeriod?`. */
  readonly healthCheck?: {
    readonly exec?: readonly string[];
    readonly tcp?: { readonly port: number };
    readonly http?: { readonly port: number; readonly path?: string };
    readonly interval?: string;
    readonly timeout?: string;
    readonly retries?: number;
    readonly startPeriod?: string;
  };
  readonly stopGracePeriod?: string;
  /** Rendered as `spec.placement`. */
  readonly placement?: { readonly maxPerNode?: number; readonly constraints?: readonly string[]; readonly spreadBy?: string };
  /** Rendered as `spec.fencing`. */
  readonly fencing?: boolean;
  /** Rendered as `spec.update`, `spec.rollback` and `spec.restartPolicy`, as in the manifest. */
  readonly update?: Readonly<Record<string, unknown>>;
  readonly rollback?: Readonly<Record<string, unknown>>;
  readonly restartPolicy?: Readonly<Record<string, unknown>>;
}

export function serviceManifest(s: ServiceSketch): string {
  const template: Record<string, unknown> = { ...(s.runtime ? { runtime: s.runtime } : {}), ...(s.image !== undefined ? { image: s.image } : {}) };
  if (s.command) template.command = [...s.command];
  if (s.env) template.env = { ...s.env };
  if (s.memory || s.cpu) template.resources = { ...(s.cpu ? { cpu: s.cpu } : {}), ...(s.memory ? { memory: s.memory } : {}) };
  if (s.vm) template.vm = { ...s.vm };
  if (s.ports) template.ports = s.ports.map((p) => ({ ...p, protocol: 'tcp' }));
  if (s.healthCheck) template.healthCheck = structuredClone(s.healthCheck);
  if (s.stopGracePeriod) template.stopGracePeriod = s.stopGracePeriod;
  const spec: Record<string, unknown> = s.mode === 'global' ? { mode: 'global', template } : { replicas: s.replicas ?? 1, template };
  if (s.placement) spec.placement = { ...s.placement, ...(s.placement.constraints ? { constraints: [...s.placement.constraints] } : {}) };
  if (s.fencing !== undefined) spec.fencing = s.fencing;
  if (s.update) spec.update = { ...s.update };
  if (s.rollback) spec.rollback = { ...s.rollback };
  if (s.restartPolicy) spec.restartPolicy = { ...s.restartPolicy };
  return stringify({ apiVersion: 'berth/v1', kind: 'Service', metadata: { name: s.name }, spec });
}

/**
 * The `berth` CLI pointed at one cluster: every call is a fresh `berth` process with this
 * environment (HOME holds the client config `berth up`/`server` wrote: ~/.berth/config, or BERTH_CONFIG names one).
 */
export class BerthCli {
  constructor(
    private readonly env: Record<string, string>,
    private readonly workDir: string,
  ) {}

  /** `opts.timeoutMs`: SIGKILL the command if it runs longer (see runBerth). */
  run(args: readonly string[], stdin?: string, opts: { timeoutMs?: number } = {}): Promise<RunResult> {
    return runBerth(args, { env: this.env, ...(stdin === undefined ? {} : { stdin }), ...opts });
  }

  /**
   * `berth events -w -o json --after <the newest event now> ...extra`: what happens from now on,
   * followed until stopped (support/event-watch.ts).
   */
  async watchEvents(extra: readonly string[] = []): Promise<EventWatch> {
    const r = await this.run(['events', '-o', 'json']);
    if (r.code !== 0) throw new Error(`berth events: exit ${r.code}: ${r.stderr}`);
    const newest = (JSON.parse(r.stdout) as { items: { id: string }[] }).items.at(-1)?.id;
    return new EventWatch(spawnBerth(['events', '-w', '-o', 'json', ...(newest ? ['--after', newest] : []), ...extra], { env: this.env }), newest);
  }

  /** Writes the manifest to the work dir and runs `berth apply -f FILE ...extra`. */
  async apply(s: ServiceSketch, extra: readonly string[] = []): Promise<RunResult> {
    const path = join(this.workDir, `${s.name}.yaml`);
    await writeFile(path, serviceManifest(s));
    return this.run(['apply', '-f', path, ...extra]);
  }

  async tasks(service?: string): Promise<TaskJson[]> {
    const r = await this.run(['get', 'tasks', ...(service ? ['--service', service] : []), '-o', 'json']);
    if (r.code !== 0) throw new Error(`berth get tasks failed (${r.code}): ${r.stderr}`);
    const all = JSON.parse(r.stdout) as TaskJson[];
    return service ? all.filter((t) => t.metadata.service === service) : all;
  }

  /** Tasks of `service` that run now and are meant to. */
  async running(service: string): Promise<TaskJson[]> {
    return (await this.tasks(service)).filter((t) => t.status.state === 'running' && t.spec.desiredState === 'running');
  }

  async services(): Promise<ServiceJson[]> {
    const r = await this.run(['get', 'services', '-o', 'json']);
    if (r.code !== 0) throw new Error(`berth get services failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as ServiceJson[];
  }

  /** The service from `berth get services -o json`, or undefined when there is none of that name. */
  async service(name: string): Promise<ServiceJson | undefined> {
    return (await this.services()).find((s) => s.metadata.name === name);
  }

  async nodes(): Promise<NodeJson[]> {
    const r = await this.run(['get', 'nodes', '-o', 'json']);
    if (r.code !== 0) throw new Error(`berth get nodes failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as NodeJson[];
  }

  /** `berth token create --role join`: the token agents join with (what an operator hands to a new node). */
  async joinToken(): Promise<string> {
    const r = await this.run(['token', 'create', '--role', 'join', '--description', 'test agents']);
    if (r.code !== 0) throw new Error(`berth token create failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim();
  }

  /** Waits until exactly `count` nodes are ready; returns them. */
  async readyNodes(count: number, deadlineMs = 60_000): Promise<NodeJson[]> {
    return eventually(
      `${count} ready node(s)`,
      async () => {
        const ready = (await this.nodes()).filter((n) => n.status.state === 'ready');
        return ready.length === count ? ready : undefined;
      },
      deadlineMs,
    );
  }

  /** Waits until no task of `service` is left in any listing (the service was deleted). */
  async tasksGone(service: string, deadlineMs = 120_000): Promise<void> {
    await eventually(`the tasks of ${service} to go`, async () => ((await this.tasks(service)).length === 0 ? true : undefined), deadlineMs);
  }
}
