import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TaskStats } from '../driver';
import { parseNetDev, readCgroupStats, readNetworkStats, readVethStats, type CgroupLayout } from './cgroups';
import { hostVethOf } from '../task-stats';

// Every file in the fixture trees holds a number of its own, so a field read from the wrong
// file (or the wrong line: rss for total_rss, oom for oom_kill) changes the result.
const FIXTURES = join(__dirname, '__fixtures__');
const V1 = join(FIXTURES, 'cgroup-v1');
const V2 = join(FIXTURES, 'cgroup-v2');
const PROC = join(FIXTURES, 'proc');
const MiB = 1024 * 1024;

/** A hybrid host: every controller on v1, plus the (controller-less) unified hierarchy. */
const hybrid: CgroupLayout = {
  v1: new Map(['memory', 'cpuacct', 'cpu', 'pids'].map((c) => [c, join(V1, c)])),
  unified: V2,
};
const pureV2: CgroupLayout = { v1: new Map(), unified: V2 };

describe('cgroup v1 stats', () => {
  it('reads every field of a limited task from its memory, cpuacct, cpu and pids hierarchies', async () => {
    expect(await readCgroupStats(hybrid, '/berth/node-a/web.1.a')).toEqual<TaskStats>({
      cpuUsageSeconds: 12.5,
      cpuThrottledSeconds: 0.25,
      cpuQuotaMicros: 50_000,
      cpuPeriodMicros: 100_000,
      memoryUsageBytes: 50 * MiB,
      memoryWorkingSetBytes: 50 * MiB - 12 * MiB,
      memoryRssBytes: 24 * MiB,
      memoryLimitBytes: 64 * MiB,
      pids: 7,
      oomKills: 2,
    });
  });

  it('reports an unlimited quota and memory limit as undefined, and a kernel without oom_kill as no OOM kills', async () => {
    expect(await readCgroupStats(hybrid, '/berth/node-a/batch.1.b')).toEqual<TaskStats>({
      cpuUsageSeconds: 3,
      cpuThrottledSeconds: 0,
      cpuQuotaMicros: undefined,
      cpuPeriodMicros: 100_000,
      memoryUsageBytes: 8 * MiB,
      memoryWorkingSetBytes: 7 * MiB,
      memoryRssBytes: 6 * MiB,
      memoryLimitBytes: undefined,
      pids: 1,
      oomKills: 0,
    });
  });

  it('throws when the task has no cgroup', async () => {
    await expect(readCgroupStats(hybrid, '/berth/node-a/gone.1.z')).rejects.toThrow('gone.1.z');
  });
});

describe('cgroup v2 stats', () => {
  it('reads every field of a limited task from its unified directory', async () => {
    expect(await readCgroupStats(pureV2, '/berth/node-a/web.1.a')).toEqual<TaskStats>({
      cpuUsageSeconds: 7.25,
      cpuThrottledSeconds: 1.5,
      cpuQuotaMicros: 50_000,
      cpuPeriodMicros: 100_000,
      memoryUsageBytes: 40 * MiB,
      memoryWorkingSetBytes: 30 * MiB,
      memoryRssBytes: 18 * MiB,
      memoryLimitBytes: 64 * MiB,
      pids: 5,
      oomKills: 2,
    });
  });

  it('reports a "max" quota and memory limit as undefined', async () => {
    expect(await readCgroupStats(pureV2, '/berth/node-a/batch.1.b')).toEqual<TaskStats>({
      cpuUsageSeconds: 3,
      cpuThrottledSeconds: 0,
      cpuQuotaMicros: undefined,
      cpuPeriodMicros: 100_000,
      memoryUsageBytes: 8 * MiB,
      memoryWorkingSetBytes: 7 * MiB,
      memoryRssBytes: 6 * MiB,
      memoryLimitBytes: undefined,
      pids: 1,
      oomKills: 0,
    });
  });

  it('reads a task whose subtree lacks the cpu controller as unthrottled, without quota or period', async () => {
    const stats = await readCgroupStats(pureV2, '/berth/node-a/plain.1.c');
    expect(stats).toEqual<TaskStats>({
      cpuUsageSeconds: 0.25,
      cpuThrottledSeconds: 0,
      cpuQuotaMicros: undefined,
      cpuPeriodMicros: undefined,
      memoryUsageBytes: 4 * MiB,
      memoryWorkingSetBytes: 3.5 * MiB,
      memoryRssBytes: 2 * MiB,
      memoryLimitBytes: undefined,
      pids: 2,
      oomKills: 0,
    });
  });

  it('throws when the task has no cgroup', async () => {
    await expect(readCgroupStats(pureV2, '/berth/node-a/gone.1.z')).rejects.toThrow('gone.1.z');
  });
});

describe('network stats', () => {
  it('sums the byte counters of every interface but lo', () => {
    const text = readFileSync(join(PROC, '4242', 'net', 'dev'), 'utf8');
    expect(parseNetDev(text)).toEqual({ receiveBytes: 3_519_384_919, transmitBytes: 15_127_553 });
  });

  it('adds up several interfaces, also a counter too wide for a space after the colon', () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0',
      '  eth0:1234567890123  900    0    0    0     0          0         0     2000      20    0    0    0     0       0          0',
      '  eth1:     300       3    0    0    0     0          0         0       40       4    0    0    0     0       0          0',
    ].join('\n');
    expect(parseNetDev(text)).toEqual({ receiveBytes: 1_234_567_890_423, transmitBytes: 2040 });
  });

  it('reads the counters of the network namespace a process lives in', async () => {
    expect(await readNetworkStats(4242, PROC)).toEqual({ receiveBytes: 3_519_384_919, transmitBytes: 15_127_553 });
  });

  it('has no counters for a process that is gone', async () => {
    expect(await readNetworkStats(4243, PROC)).toBeUndefined();
  });
});

describe("network stats from the host's end of the veth pair", () => {
  const netDev = join(__dirname, '__fixtures__', 'proc', 'net-dev-host');

  it('reads what the task received from what the host end sent, and the other way round', async () => {
    expect(await readVethStats('veth1a2b3c4d', netDev)).toEqual({ receiveBytes: 77824, transmitBytes: 5120 });
  });

  it('has no counters for an interface that is gone', async () => {
    expect(await readVethStats('veth00000000', netDev)).toBeUndefined();
  });

  it("finds the host end in the bridge plugin's result: not the bridge, not in the task's namespace", () => {
    const cniResult = {
      interfaces: [
        { name: 'berth0', mac: '02:00:00:00:00:01' },
        { name: 'veth1a2b3c4d', mac: '02:00:00:00:00:02' },
        { name: 'eth0', mac: '02:00:00:00:00:03', sandbox: '/run/netns/berth-web.1.a' },
      ],
    };
    expect(hostVethOf({ taskId: 'web.1.a', netnsPath: '/run/netns/berth-web.1.a', ports: [], cniResult })).toBe('veth1a2b3c4d');
    expect(hostVethOf({ taskId: 'web.1.a', netnsPath: '/run/netns/berth-web.1.a', ports: [], cniResult: {} })).toBeUndefined();
  });
});
