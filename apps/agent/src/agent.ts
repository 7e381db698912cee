import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { CniNetwork, ImageStore, QemuDriver, RuncDriver, type LogLine, type RuntimeDriver, type TaskStats } from '@berth/runtime';
import { DomainError, NotFoundError, type Runtime } from '@berth/core';
import type { LogRequest } from '@berth/proto';
import { capacity, onPath, primaryAddress } from './fingerprint/fingerprint';
import { ImageGarbageCollector } from './housekeeping/image-gc';
import { establishIdentity } from './identity/establish';
import { IdentityProvider } from './identity/identity-provider';
import { details, requestRenewal } from './identity/join';
import { CertificateRenewer } from './identity/renewal';
import { AgentMetrics, MeteredImageStore } from './metrics/agent-metrics';
import { MetricsServer } from './metrics/metrics-server';
import { StatusOutbox } from './session/outbox';
import { AgentSession } from './session/session';
import { TaskStateStore } from './state/task-state-store';
import { DriverSet } from './worker/drivers';
import type { LocalTask } from './worker/model';
import { Worker } from './worker/worker';
import { tlsTarget } from './identity/tls-target';

export const AGENT_VERSION = '0.1.0';

export interface AgentOptions {
  /** host:port of the control plane's gRPC listener. */
  readonly server: string;
  readonly name: string;
  readonly dataDir: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly insecureRegistries: readonly string[];
  readonly address?: string;
  /** Per-node bridge and task subnet; several agents on one machine need different ones. */
  readonly bridge?: string;
  readonly subnet?: string;
  /**
   * The runtime drivers, keyed by the task runtime each serves. Default: runc for `container`,
   * over this data directory. Tests and scale benchmarks pass the hollow driver here; the
   * `berth agent` command never does.
   */
  readonly drivers?: ReadonlyMap<Runtime, RuntimeDriver>;
  /**
   * With the default drivers: run `runtime: vm` tasks with QEMU when `qemu-system-x86_64` is on
   * the PATH (default true). False: this node serves containers only.
   */
  readonly vms?: boolean;
  /** With the default drivers: first host id of the range user-namespaced tasks map to (RuncDriverOptions.userNamespaceBase). */
  readonly userNamespaceBase?: number;
  /**
   * Where to serve Prometheus metrics (`GET /metrics`; port 0 takes a free port). Absent or
   * false: no endpoint, so tests and benchmarks can start many agents in one process.
   */
  readonly metrics?: { readonly host: string; readonly port: number } | false;
  /**
   * The join token (`berth token create --role join`), or a function that returns it, called
   * only when the node has to join: needed only at the first start of a node. The agent keeps
   * the certificate it gets in `<dataDir>/pki` and reuses it on later starts.
   */
  readonly token?: string | (() => Promise<string>);
  readonly log?: (line: string) => void;
}

export interface RunningAgent {
  /** Stops the agent; its containers keep running and are re-adopted on the next start. */
  stop(): Promise<void>;
  readonly done: Promise<void>;
  /** `host:port` the metrics endpoint listens on, as bound (the real port when 0 was asked for); absent without one. */
  readonly metricsAddress?: string;
}

/**
 * The node agent's composition root. Data directory layout:
 *   state/     one JSON file per task (what the agent re-adopts after a restart)
 *   runtime/   the runc driver's task bundles, rootfs mounts and volumes
 *   images/    pulled layouts and unpacked image roots (unused ones removed after a day)
 *   cni/       host-local IPAM leases of this node
 *   vm/        the qemu driver's VM tasks, guest initramfs and acceleration probe (with QEMU only)
 *   pki/       the node's identity: ca.pem, node.pem (CN=node:<name>), node.key (identity/node-identity.ts)
 * The identity comes first: the one in pki/ when it is this node's and still valid, else a join
 * with the token; without either the start fails before anything else is opened. The session
 * speaks mutual TLS with it, and it is renewed at 50–80 % of its lifetime.
 * With `metrics`, the endpoint listens before anything runs (an address in use fails the start
 * and leaves nothing behind) and closes once the agent's loops have ended.
 */
export async function startAgent(o: AgentOptions): Promise<RunningAgent> {
  const log = o.log ?? ((line: string) => process.stderr.write(`berth-agent: ${line}\n`));
  // Before anything is opened: an agent without a certificate has nothing to start.
  const { identity, files: pki } = await establishIdentity({ server: o.server, name: o.name, dataDir: o.dataDir, token: o.token, log });
  const provider = new IdentityProvider(identity, tlsTarget(o.server).verify);
  const renewer = new CertificateRenewer({
    name: o.name,
    files: pki,
    provider,
    log,
    renew: async (csrPem) => {
      try {
        return await requestRenewal(o.server, provider.channelCredentials(), csrPem);
      } catch (e) {
        throw new Error(details(e));
      }
    },
  });
  // Its sources are read at scrapes only, by which time the worker and session below exist.
  const metrics = o.metrics
    ? new AgentMetrics({
        node: o.name,
        tasks: (): LocalTask[] => worker.tasks(),
        stats: async (h): Promise<TaskStats> => drivers.forHandle(h).stats(h),
        capacity,
        connected: (): boolean => session.connected,
        certificateExpiry: (): number => provider.current.validTo.getTime() / 1000,
      })
    : undefined;
  const imageOptions = { dir: join(o.dataDir, 'images'), insecureRegistries: o.insecureRegistries };
  const images = metrics ? new MeteredImageStore(imageOptions, metrics) : new ImageStore(imageOptions);
  const drivers = new DriverSet(o.drivers ?? defaultDrivers(o, images));
  // Filled in by the drivers' probes (qemu: KVM or TCG) while the agent already runs tasks.
  const driverDetails: Record<string, string> = {};
  const outbox = new StatusOutbox();
  const worker = new Worker({
    drivers,
    states: new TaskStateStore(join(o.dataDir, 'state')),
    now: () => new Date(),
    log,
    ...(metrics ? { metrics } : {}),
    report: (task) => {
      outbox.add(task);
      session.flushSoon(); // reports begin after recover(), once the session below exists
    },
  });
  const session = new AgentSession({
    server: o.server,
    credentials: provider.channelCredentials(),
    certificateFile: pki.certFile,
    worker,
    outbox,
    log,
    hello: () => ({
      nodeName: o.name,
      agentVersion: AGENT_VERSION,
      address: o.address ?? primaryAddress(),
      capacity: capacity(),
      drivers: drivers.names(),
      runtimes: drivers.runtimes(),
      driverDetails: { ...driverDetails },
      labels: { ...o.labels },
      // A wildcard host goes as it is: the control plane puts the session's address in its place.
      metricsAddress: metricsAddress ?? '',
    }),
    logs: (req, signal) => taskLogs(worker, drivers, req, signal),
    exec: async (taskId, command, o) => {
      const handle = worker.tasks().find((t) => t.assignment.taskId === taskId)?.handle;
      if (!handle) throw new NotFoundError('task', taskId);
      return drivers.forHandle(handle).execStream(handle, command, o);
    },
    cutOff: (ms) => worker.fence(ms),
  });

  const imageGc = new ImageGarbageCollector({
    images,
    inUse: () => new Set(worker.tasks().flatMap((t) => (t.handle?.image ? [t.handle.image.digest] : []))),
    log,
  });

  const endpoint = metrics ? new MetricsServer(metrics.registry) : undefined;
  const metricsAddress = o.metrics ? await endpoint?.listen(o.metrics.host, o.metrics.port) : undefined;
  const ctl = new AbortController();
  // Every task's runner waits on this one signal: hundreds of listeners are expected, not a leak.
  setMaxListeners(0, ctl.signal);
  try {
    await worker.recover(ctl.signal);
  } catch (e) {
    await endpoint?.close();
    throw e;
  }
  for (const d of drivers.all()) {
    if (!(d instanceof QemuDriver)) continue;
    // In the background: Hello goes out at once, saying "probing"; the result follows as a NodeUpdate.
    driverDetails[d.name] = 'probing';
    void d.acceleration().then(
      ({ accel, reason }) => {
        driverDetails[d.name] = accel;
        log(`qemu: VMs run under ${accel.toUpperCase()} (${reason})`);
        session.nodeChanged({ [d.name]: accel });
      },
      (e: unknown) => {
        driverDetails[d.name] = 'tcg';
        log(`qemu: acceleration probe failed, VMs run under TCG: ${e instanceof Error ? e.message : String(e)}`);
        session.nodeChanged({ [d.name]: 'tcg' });
      },
    );
  }
  renewer.start();
  const done = Promise.all([worker.run(ctl.signal), session.run(ctl.signal), imageGc.run(ctl.signal)])
    .then(() => undefined)
    .finally(async () => {
      await renewer.stop();
      await endpoint?.close();
    });
  return {
    done,
    ...(metricsAddress ? { metricsAddress } : {}),
    stop: async () => {
      ctl.abort();
      await done;
    },
  };
}

/** What `berth agent` runs: runc for containers, and QEMU for VMs where the node has it. */
function defaultDrivers(o: AgentOptions, images: ImageStore): ReadonlyMap<Runtime, RuntimeDriver> {
  const network = new CniNetwork({ nodeName: o.name, ipamDataDir: join(o.dataDir, 'cni'), bridge: o.bridge, subnet: o.subnet });
  const drivers = new Map<Runtime, RuntimeDriver>([['container', new RuncDriver({ node: o.name, dataDir: join(o.dataDir, 'runtime'), images, network, userNamespaceBase: o.userNamespaceBase })]]);
  if (o.vms !== false && onPath(QEMU_BINARY)) {
    drivers.set('vm', new QemuDriver({ node: o.name, dataDir: join(o.dataDir, 'vm'), images, network, qemu: QEMU_BINARY }));
  }
  return drivers;
}

const QEMU_BINARY = 'qemu-system-x86_64';

async function* taskLogs(worker: Worker, drivers: DriverSet, req: LogRequest, signal: AbortSignal): AsyncIterable<LogLine> {
  const handle = worker.tasks().find((t) => t.assignment.taskId === req.taskId)?.handle;
  if (!handle) throw new NotFoundError('task', req.taskId);
  const driver = drivers.forHandle(handle);
  const o = { ...(req.tail > 0 ? { tail: req.tail } : {}), follow: req.follow, signal };
  if (!req.console) return yield* driver.logs(handle, o);
  if (!(driver instanceof QemuDriver)) throw new NoConsoleError(req.taskId);
  yield* driver.consoleLogs(handle, o);
}

/** A console was asked of a task that has none: only VMs boot a kernel with a console. */
class NoConsoleError extends DomainError {
  readonly code = 'INVALID';
  constructor(taskId: string) {
    super(`task ${taskId} is not a VM: --console shows the boot console of runtime vm tasks`);
  }
}
