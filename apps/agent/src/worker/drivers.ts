import { DomainError, type Runtime } from '@berth/core';
import type { RuntimeDriver, TaskHandle } from '@berth/runtime';

/** A task's handle names a driver this agent was not started with (it ran one before a restart). */
export class DriverMissingError extends DomainError {
  readonly code = 'UNAVAILABLE';
  constructor(
    readonly taskId: string,
    readonly driver: string,
  ) {
    super(`task ${taskId}: this node no longer has the ${driver} driver that prepared it; start the agent with it again`);
  }
}

/**
 * The runtime drivers of this node, keyed by the task runtime each serves (runc for `container`;
 * qemu for `vm` once it exists). New tasks go to the driver of their runtime; a task the agent
 * re-adopts goes back to the driver that prepared it, found by the name in its handle.
 */
export class DriverSet {
  private readonly byName = new Map<string, RuntimeDriver>();

  constructor(private readonly byRuntime: ReadonlyMap<Runtime, RuntimeDriver>) {
    for (const d of byRuntime.values()) this.byName.set(d.name, d);
  }

  /** The driver for new tasks of `runtime`; undefined when this node serves no such runtime. */
  forRuntime(runtime: Runtime): RuntimeDriver | undefined {
    return this.byRuntime.get(runtime);
  }

  /** The driver that prepared the task; throws DriverMissingError when the agent no longer has it. */
  forHandle(h: TaskHandle): RuntimeDriver {
    const d = this.byName.get(h.driver);
    if (!d) throw new DriverMissingError(h.taskId, h.driver);
    return d;
  }

  /** What Hello says: the runtimes served, and the driver names (each once). */
  runtimes(): Runtime[] {
    return [...this.byRuntime.keys()];
  }

  all(): RuntimeDriver[] {
    return [...this.byName.values()];
  }

  names(): string[] {
    return [...this.byName.keys()];
  }
}
