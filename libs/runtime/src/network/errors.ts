import { DomainError, type Protocol } from '@berth/core';

/** A CNI plugin answered ADD/DEL with an error (or could not be run at all). */
export class CniPluginError extends DomainError {
  readonly code = 'INTERNAL';
  constructor(
    readonly plugin: string,
    readonly command: string,
    /** The CNI error code (spec: 1–99 well-known, 100+ plugin-specific); undefined when the plugin did not answer in JSON. */
    readonly cniCode: number | undefined,
    detail: string,
  ) {
    super(`CNI plugin "${plugin}" ${command} failed${cniCode === undefined ? '' : ` (code ${cniCode})`}: ${detail}`);
  }
}

/**
 * A task asked for a host port that something on the node (another task, or any host process)
 * already holds. The scheduler treats host ports as a per-node constraint, so this means the
 * node's view and the scheduler's disagreed — or a non-berth process owns the port.
 */
export class HostPortInUseError extends DomainError {
  readonly code = 'CONFLICT';
  constructor(
    readonly hostPort: number,
    readonly protocol: Protocol,
    readonly nodeName: string,
  ) {
    super(`host port ${hostPort}/${protocol} is already in use on node ${nodeName}`);
  }
}

/** Creating or removing a namespace, link or rule failed; the message carries the tool's words. */
export class NetworkSetupError extends DomainError {
  readonly code = 'INTERNAL';
  constructor(message: string) {
    super(message);
  }
}

/** The per-node network configuration is unusable (bad bridge name, subnet, path). */
export class InvalidNetworkConfigError extends DomainError {
  readonly code = 'INVALID';
  constructor(readonly field: string, reason: string) {
    super(`network config ${field}: ${reason}`);
  }
}
