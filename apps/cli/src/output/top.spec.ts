import { describe, expect, it } from 'vitest';
import type { NodeTopView, TaskTopView } from '@berth/api';
import { formatBytes, formatPercent, renderNodeTop, renderTaskTop, TopFrames, topWarnings } from './top';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

const nodes: NodeTopView[] = [
  { node: 'n1', cpuPercent: 37.46, memoryBytes: 300 * MiB, capacity: { cpuCores: 4, memoryBytes: 8 * GiB }, allocated: { cpuCores: 1.5, memoryBytes: 512 * MiB }, tasks: 3 },
  { node: 'n2', cpuPercent: 0.04, memoryBytes: 0, capacity: { cpuCores: 2, memoryBytes: 15.6 * GiB }, allocated: { cpuCores: 0, memoryBytes: 0 }, tasks: 0 },
];

const tasks: TaskTopView[] = [
  { task: 'web.1.k3x7p', service: 'web', slot: 1, node: 'n1', cpuPercent: 2.345, memoryBytes: 12.4 * MiB, memoryLimitBytes: 64 * MiB, cpuLimitCores: 0.5 },
  { task: 'web.2.q9z1a', service: 'web', slot: 2, node: 'n2', cpuPercent: null, memoryBytes: 900 * 1024, memoryLimitBytes: null, cpuLimitCores: null },
];

describe('renderNodeTop', () => {
  it('prints usage, reservations and capacity per node, memory in Mi/Gi', () => {
    expect(renderNodeTop(nodes).split('\n')).toEqual([
      'NODE   CPU%   MEMORY   ALLOC-CPU   ALLOC-MEMORY   CAPACITY-CPU   CAPACITY-MEMORY   TASKS',
      'n1     37%    300Mi    1500m       512Mi          4              8Gi               3',
      'n2     0.0%   0        0           0              2              15.6Gi            0',
    ]);
  });
});

describe('renderTaskTop', () => {
  it('prints usage against limits; "-" for no CPU figure yet and for no limit', () => {
    expect(renderTaskTop(tasks).split('\n')).toEqual([
      'NAME          CPU%   MEMORY   MEM%-OF-LIMIT   CPU-LIMIT   MEM-LIMIT   NODE',
      'web.1.k3x7p   2.3%   12Mi     19%             500m        64Mi        n1',
      'web.2.q9z1a   -      900Ki    -               -           -           n2',
    ]);
  });

  it('prints the headers alone when there is no task', () => {
    expect(renderTaskTop([])).toBe('NAME   CPU%   MEMORY   MEM%-OF-LIMIT   CPU-LIMIT   MEM-LIMIT   NODE');
  });
});

describe('formats', () => {
  it('percent: one decimal under 10, whole above', () => {
    expect([0, 0.449, 9.94, 9.96, 12.5, 400].map(formatPercent)).toEqual(['0.0%', '0.4%', '9.9%', '10.0%', '13%', '400%']);
  });

  it('bytes: rounded to the largest binary unit they reach', () => {
    expect([0, 1000, 1536, 5 * MiB + 1, 1.25 * GiB, 2 * GiB].map(formatBytes)).toEqual(['0', '1000', '2Ki', '5Mi', '1.3Gi', '2Gi']);
  });
});

describe('topWarnings', () => {
  it('names the node and what went wrong', () => {
    expect(topWarnings([{ node: 'n2', message: 'http://10.0.0.2:9101/metrics: ECONNREFUSED' }])).toEqual(['warning: node n2: http://10.0.0.2:9101/metrics: ECONNREFUSED']);
  });
});

describe('TopFrames', () => {
  it('on a terminal clears the screen before every frame', () => {
    const frames = new TopFrames(true);
    expect(frames.next('A')).toBe('\x1b[H\x1b[2JA');
    expect(frames.next('B')).toBe('\x1b[H\x1b[2JB');
  });

  it('elsewhere prints frames one after another, a blank line apart', () => {
    const frames = new TopFrames(false);
    expect([frames.next('A'), frames.next('B')]).toEqual(['A', '\nB']);
  });
});
