import { startAgent, type RunningAgent } from '@berth/agent';
import { HollowDriver } from '@berth/runtime';

export interface HollowAgentOptions {
  /** host:port of the control plane's gRPC listener. */
  readonly server: string;
  readonly name: string;
  readonly dataDir: string;
  /** The node's runtime; default a new one. Pass the same driver again to play an agent restart. */
  readonly driver?: HollowDriver;
  readonly labels?: Readonly<Record<string, string>>;
  /** The join token (or where to get it), for a node that has no certificate in its data dir yet. */
  readonly token?: string | (() => Promise<string>);
  readonly log?: (line: string) => void;
}

/**
 * A hollow node: the real agent (startAgent: session, worker, state files) with the hollow driver
 * serving runtime `container`, so tests and benchmarks run many nodes' agents without runc or root.
 */
export function startHollowAgent(o: HollowAgentOptions): Promise<RunningAgent> {
  return startAgent({
    server: o.server,
    name: o.name,
    dataDir: o.dataDir,
    labels: o.labels ?? {},
    insecureRegistries: [],
    address: '127.0.0.1',
    drivers: new Map([['container', o.driver ?? new HollowDriver()]]),
    log: o.log ?? (() => undefined),
    ...(o.token !== undefined ? { token: o.token } : {}),
  });
}
