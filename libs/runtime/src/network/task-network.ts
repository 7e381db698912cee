import type { PortMapping } from '@berth/core';

/**
 * What the runtime driver needs from networking: a network namespace per task, wired to the
 * node's bridge, with its host ports published. Implemented by `CniNetwork` (bridge + host-local
 * + portmap plugins of the distribution); unit tests use doubles.
 */
export interface TaskNetwork {
  /**
   * Creates the task's network namespace and runs CNI ADD. Idempotent per task id: a second call
   * for a task that is already set up returns the existing attachment. Throws a DomainError whose
   * message says which plugin failed and why; on failure nothing is left behind.
   */
  setUp(taskId: string, ports: readonly PortMapping[]): Promise<NetworkAttachment>;
  /**
   * Runs CNI DEL with the same config and result as ADD, releases host-port reservations and
   * removes the namespace. Idempotent: tearing down something already gone succeeds.
   */
  tearDown(attachment: NetworkAttachment): Promise<void>;
  /**
   * Takes an existing attachment back after an agent restart: re-reserves its host ports so no
   * other process can take them while the task keeps running. Leaves the namespace untouched.
   * Idempotent.
   */
  adopt(attachment: NetworkAttachment): Promise<void>;
}

/** Everything needed to tear a task's network down again, even after an agent restart:
 *  it is persisted in the task's state file. Plain JSON. */
export interface NetworkAttachment {
  readonly taskId: string;
  /** e.g. /run/netns/berth-<taskId> — given to runc as the task's network namespace path. */
  readonly netnsPath: string;
  readonly ip?: string;
  readonly ports: readonly PortMapping[];
  /** The CNI result of the last plugin, as returned by ADD (kept for DEL). */
  readonly cniResult: unknown;
}
