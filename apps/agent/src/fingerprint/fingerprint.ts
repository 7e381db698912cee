import { accessSync, constants } from 'node:fs';
import { cpus, networkInterfaces, totalmem } from 'node:os';
import { delimiter, join } from 'node:path';
import type { NodeCapacity } from '@berth/core';

/** What this machine offers the scheduler. */
export function capacity(): NodeCapacity {
  return { cpuMillis: cpus().length * 1000, memoryBytes: totalmem() };
}

/**
 * The address this node is reached at: the first non-internal IPv4 address, or loopback on a
 * machine that has none (an agent inside a test network namespace has exactly its veth address).
 */
export function primaryAddress(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** True when `command` is an executable file in one of the PATH's directories. */
export function onPath(command: string, path = process.env['PATH'] ?? ''): boolean {
  return path.split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
