import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { CniNetwork, ImageStore, RuncDriver, type LogLine, type RuntimeDriver, type TaskStats } from '@berth/runtime';
import { NotFoundError, type Runtime } from '@berth/core';
import type { LogRequest } from '@berth/proto';
import { capacity, primaryAddress } from './fingerprint/fingerprint';
import { ImageGarbageCollector } from './housekeeping/image-gc';
import { AgentMetrics, MeteredImageStore } from './metrics/agent-metrics';
import { MetricsServer } from './metrics/metrics-server';
import { StatusOutbox } from './session/outbox';
import { AgentSession } from './session/session';
import { TaskStateStore } from './state/task-state-store';
import { DriverSet } from './worker/drivers';
import type { LocalTask } from './worker/model';
import { Worker } from './worker/worker';

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
   * Where to serve Prometheus metrics (`GET /metrics`; port 0 takes a free port). Absent or
   * false: no endpoint, so tests and benchmarks can start many agents in one process.
   */
  readonly metrics?: { readonly host: string; readonly port: number } | false;
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
 * With `metrics`, the endpoint listens before anything runs (an address in use fails the start
 * and leaves nothing behind) and closes once the agent's loops have ended.
 */
export async function startAgent(o: AgentOptions): Promise<RunningAgent> {
  const log = o.log ?? ((line: string) => process.stderr.write(`berth-agent: ${line}\n`));
  // Its sources are read at scrapes only, by which time the worker and session below exist.
  const metrics = o.metrics
    ? new AgentMetrics({
        node: o.name,
        tasks: (): LocalTask[] => worker.tasks(),
        stats: async (h): Promise<TaskStats> => drivers.forHandle(h).stats(h),
        capacity,
        connected: (): boolean => session.connected,
      })
    : undefined;
  const imageOptions = { dir: join(o.dataDir, 'images'), insecureRegistries: o.insecureRegistries };
  const images = metrics ? new MeteredImageStore(imageOptions, metrics) : new ImageStore(imageOptions);
  const drivers = new DriverSet(o.drivers ?? defaultDrivers(o, images));
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
      labels: { ...o.labels },
      // A wildcard host goes as it is: the control plane puts the session's address in its place.
      metricsAddress: metricsAddress ?? '',
    }),
    logs: (req, signal) => taskLogs(worker, drivers, req, signal),
    cutOff: (ms) => worker.fence(ms),
  });

  const imageGc = new ImageGarbageCollector({
    images,
    inUse: () => new Set(worker.tasks().flatMap((t) => (t.handle ? [t.handle.image.digest] : []))),
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
  const done = Promise.all([worker.run(ctl.signal), session.run(ctl.signal), imageGc.run(ctl.signal)])
    .then(() => undefined)
    .finally(() => endpoint?.close());
  return {
    done,
    ...(metricsAddress ? { metricsAddress } : {}),
    stop: async () => {
      ctl.abort();
      await done;
    },
  };
}

/** What `berth agent` runs: runc for containers (qemu for vms comes later). */
function defaultDrivers(o: AgentOptions, images: ImageStore): ReadonlyMap<Runtime, RuntimeDriver> {
  const network = new CniNetwork({ nodeName: o.name, ipamDataDir: join(o.dataDir, 'cni'), bridge: o.bridge, subnet: o.subnet });
  return new Map([['container', new RuncDriver({ node: o.name, dataDir: join(o.dataDir, 'runtime'), images, network })]]);
}

async function* taskLogs(worker: Worker, drivers: DriverSet, req: LogRequest, signal: AbortSignal): AsyncIterable<LogLine> {
  const handle = worker.tasks().find((t) => t.assignment.taskId === req.taskId)?.handle;
  if (!handle) throw new NotFoundError('task', req.taskId);
  yield* drivers.forHandle(handle).logs(handle, { ...(req.tail > 0 ? { tail: req.tail } : {}), follow: req.follow, signal });
}
