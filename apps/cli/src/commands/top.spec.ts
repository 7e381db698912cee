import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NodeTopView, TaskTopView, TopView } from '@berth/api';
import { berth, json, StandIn } from '../__fixtures__/stand-in';
import { ApiError, UnreachableError } from '../errors';
import { watchTop } from './top';

const MiB = 1024 ** 2;

const n1: NodeTopView = { node: 'n1', cpuPercent: 12.5, memoryBytes: 40 * MiB, capacity: { cpuCores: 4, memoryBytes: 8 * 1024 * MiB }, allocated: { cpuCores: 1, memoryBytes: 256 * MiB }, tasks: 2 };
const task: TaskTopView = { task: 'web.1.k3x7p', service: 'web', slot: 1, node: 'n1', cpuPercent: 3.1, memoryBytes: 20 * MiB, memoryLimitBytes: 64 * MiB, cpuLimitCores: 0.5 };
const down = { node: 'n2', message: 'http://10.0.0.2:9101/metrics: ECONNREFUSED' };

const api = new StandIn();
beforeAll(() => api.start());
afterAll(() => api.stop());
beforeEach(() => api.reset());

describe('berth top', () => {
  it('nodes: a table on stdout, each node that could not be read as a warning on stderr, exit 0', async () => {
    api.on('GET /api/v1/top/nodes', json(200, { items: [n1], sampledOverSeconds: 1, errors: [down] }));
    const r = await berth(api.url, ['top', 'nodes']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n').map((l) => l.split(/\s{3,}/))).toEqual([
      ['NODE', 'CPU%', 'MEMORY', 'ALLOC-CPU', 'ALLOC-MEMORY', 'CAPACITY-CPU', 'CAPACITY-MEMORY', 'TASKS'],
      ['n1', '13%', '40Mi', '1', '256Mi', '4', '8Gi', '2'],
    ]);
    expect(r.err).toBe('warning: node n2: http://10.0.0.2:9101/metrics: ECONNREFUSED');
  });

  it('tasks: passes --service and --node on, and prints usage against limits', async () => {
    api.on('GET /api/v1/top/tasks?service=web&node=n1', json(200, { items: [task], sampledOverSeconds: 1, errors: [] }));
    const r = await berth(api.url, ['top', 'tasks', '--service', 'web', '--node', 'n1']);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out.split('\n').map((l) => l.split(/\s{3,}/))).toEqual([
      ['NAME', 'CPU%', 'MEMORY', 'MEM%-OF-LIMIT', 'CPU-LIMIT', 'MEM-LIMIT', 'NODE'],
      ['web.1.k3x7p', '3.1%', '20Mi', '31%', '500m', '64Mi', 'n1'],
    ]);
  });

  it('-o json prints the API’s answer as it came', async () => {
    const answer: TopView<TaskTopView> = { items: [task, { ...task, task: 'web.2.a', slot: 2, cpuPercent: null, memoryLimitBytes: null, cpuLimitCores: null }], sampledOverSeconds: 1, errors: [down] };
    api.on('GET /api/v1/top/tasks', json(200, answer));
    const r = await berth(api.url, ['top', 'tasks', '-o', 'json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual(answer);
    expect(r.err).toBe('warning: node n2: http://10.0.0.2:9101/metrics: ECONNREFUSED');
  });

  it('says so on stderr when no node exports metrics', async () => {
    api.on('GET /api/v1/top/nodes', json(200, { items: [], sampledOverSeconds: 1, errors: [] }));
    expect(await berth(api.url, ['top', 'nodes'])).toMatchObject({ code: 0, out: '', err: 'No nodes with metrics found.' });
  });

  it('-w -o json prints one answer per line until Ctrl-C, exit 0', async () => {
    api.on('GET /api/v1/top/nodes', json(200, { items: [n1], sampledOverSeconds: 1, errors: [] }));
    const ctrlC = new AbortController();
    const r = await berth(api.url, ['top', 'nodes', '-w', '-o', 'json'], { interruption: ctrlC.signal, onOut: () => ctrlC.abort('SIGINT') });
    expect(r.code).toBe(0);
    expect(r.out.split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([{ items: [n1], sampledOverSeconds: 1, errors: [] }]);
  });

  it('explains itself in --help', async () => {
    const r = await berth(api.url, ['top', '--help']);
    expect(r.out).toContain('berth top tasks --service web');
    expect(r.out).toContain('percent of one core');
  });
});

describe('watchTop', () => {
  const view = (n: number): TopView<number> => ({ items: [n], sampledOverSeconds: 1, errors: [] });

  it('shows an answer every interval; a later failure is reported and asked again', async () => {
    const ctrlC = new AbortController();
    const script: (() => Promise<TopView<number>>)[] = [
      async () => view(1),
      async () => {
        throw new UnreachableError('http://cp', 'ECONNREFUSED');
      },
      async () => view(3),
    ];
    const shown: number[] = [];
    const said: string[] = [];
    await watchTop({
      read: () => script.shift()!(),
      show: (v) => {
        shown.push(v.items[0]!);
        if (script.length === 0) ctrlC.abort();
      },
      say: (line) => said.push(line),
      signal: ctrlC.signal,
      intervalMs: 5,
    });
    expect(shown).toEqual([1, 3]);
    expect(said).toEqual(['berth: cannot reach the berth control plane at http://cp (is "berth up" running?): ECONNREFUSED; asking again in 5ms']);
  });

  it('throws when the first request fails, or a later one was refused', async () => {
    const gone = new UnreachableError('http://cp', 'ECONNREFUSED');
    const signal = new AbortController().signal;
    await expect(watchTop({ read: () => Promise.reject(gone), show: () => {}, say: () => {}, signal, intervalMs: 5 })).rejects.toBe(gone);
    const refused = new ApiError('NOT_FOUND', 404, 'Not Found', 'no such route', []);
    const answers = [Promise.resolve(view(1)), Promise.reject(refused)];
    answers[1]!.catch(() => {}); // handled by watchTop once asked for
    await expect(watchTop({ read: () => answers.shift()!, show: () => {}, say: () => {}, signal, intervalMs: 5 })).rejects.toBe(refused);
  });

  it('Ctrl-C while an answer is awaited ends at once', async () => {
    const ctrlC = new AbortController();
    const watching = watchTop({ read: () => new Promise<TopView<number>>(() => {}), show: () => {}, say: () => {}, signal: ctrlC.signal });
    ctrlC.abort();
    await expect(watching).resolves.toBeUndefined();
  });
});
