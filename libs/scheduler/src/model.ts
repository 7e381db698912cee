import type { Constraint, NodeInfo, PlacementStrategy, Protocol, Runtime } from '@berth/core';

/** What the scheduler needs to know about a node: its description plus what already runs there. */
export type SchedNode = Pick<NodeInfo, 'name' | 'labels' | 'availability' | 'state' | 'capacity' | 'drivers' | 'runtimes'>;

export interface HostPort {
  readonly port: number;
  readonly protocol: Protocol;
}

/** A task that holds resources on a node (assigned, starting or running). */
export interface PlacedTask {
  readonly id: string;
  readonly service: string;
  readonly node: string;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly hostPorts: readonly HostPort[];
}

/** A task waiting for a node. */
export interface PendingTask {
  readonly id: string;
  readonly service: string;
  readonly slot: number;
  readonly runtime: Runtime;
  /** Requests; an unlimited task requests 0 (it competes for what is left). */
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly hostPorts: readonly HostPort[];
  readonly constraints: readonly Constraint[];
  /** 0 = unlimited. */
  readonly maxPerNode: number;
  readonly strategy: PlacementStrategy;
  /**
   * A node label key (`placement.spreadBy: node.labels.KEY`): the task goes to the label value
   * with the fewest tasks of its service first (nodes without the label are one more group), then
   * to a node of that value by `strategy`.
   */
  readonly spreadBy?: string;
  /**
   * Global services: the only node the task may go to. It still passes every filter there
   * (resources, host ports…); when it does not, the task waits with that node's reason.
   */
  readonly targetNode?: string;
  /**
   * Nodes that recently refused a task of this slot (state `rejected`), each with why, worded
   * without the node's name ("host port 18080/tcp is already in use") so that reasons count
   * across nodes. The task is not placed on them; the caller decides how long "recently" is.
   */
  readonly rejectedBy?: ReadonlyMap<string, string>;
}

export interface Placement {
  readonly taskId: string;
  readonly node: string;
}

export interface Unschedulable {
  readonly taskId: string;
  /** Why no node fits, counted per reason: "3 nodes: insufficient memory; 1 node: drained". */
  readonly explanation: string;
}

export interface ScheduleResult {
  readonly placements: readonly Placement[];
  readonly unschedulable: readonly Unschedulable[];
}

/**
 * The driver that serves a runtime on a real node: what "no … driver" explanations name, and how
 * the runtimes of a node record without `runtimes` (one registered before agents reported them)
 * are derived from its drivers.
 */
export const DRIVER_FOR_RUNTIME: Readonly<Record<Runtime, string>> = { container: 'runc', vm: 'qemu' };

/** Whether the node runs tasks of `runtime`: as its agent said, else as its drivers imply. */
export function servesRuntime(node: SchedNode, runtime: Runtime): boolean {
  return node.runtimes ? node.runtimes.includes(runtime) : node.drivers.includes(DRIVER_FOR_RUNTIME[runtime]);
}
