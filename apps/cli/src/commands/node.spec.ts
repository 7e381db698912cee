import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { berth, json, StandIn } from '../__fixtures__/stand-in';
import { node1, runningTask } from '../output/__fixtures__/views';

const api = new StandIn();
beforeAll(() => api.start());
afterAll(() => api.stop());
beforeEach(() => api.reset());

describe('berth node', () => {
  it.each([
    ['drain', 'drain', 'node/n1 drained'],
    ['pause', 'pause', 'node/n1 paused'],
    ['activate', 'active', 'node/n1 activated'],
  ])('%s sets availability %s', async (action, availability, said) => {
    api.on('PUT /api/v1/nodes/n1/availability', json(200, { ...node1, spec: { availability } }));
    expect(await berth(api.url, ['node', action, 'n1'])).toEqual({ code: 0, out: said, err: '', raw: '' });
    expect(api.bodies).toEqual([{ availability }]);
  });

  it('exits 1 for an unknown node and 2 for an unknown action', async () => {
    api.on('PUT /api/v1/nodes/n9/availability', json(404, { code: 'NOT_FOUND', detail: 'node "n9" not found' }));
    expect(await berth(api.url, ['node', 'drain', 'n9'])).toMatchObject({ code: 1, err: 'error: node "n9" not found' });
    const r = await berth(api.url, ['node', 'evict', 'n1']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command 'evict'/);
  });
});

describe('berth node label and rm', () => {
  it('label sends the keys to set and to remove, and prints the labels the node has now', async () => {
    api.on('PATCH /api/v1/nodes/n1/labels', json(200, { ...node1, metadata: { ...node1.metadata, labels: { disk: 'ssd', zone: 'a' } } }));
    expect(await berth(api.url, ['node', 'label', 'n1', 'zone=a', 'disk=ssd', 'rack-'])).toMatchObject({ code: 0, out: 'node/n1 labeled (disk=ssd,zone=a)' });
    expect(api.bodies).toEqual([{ set: { zone: 'a', disk: 'ssd' }, remove: ['rack'] }]);
  });

  it('label refuses a change that is neither KEY=VALUE nor KEY-, or a key given twice, without asking the server (exit 2)', async () => {
    expect(await berth(api.url, ['node', 'label', 'n1', 'zone'])).toMatchObject({ code: 2, err: 'error: "zone" is neither KEY=VALUE (set a label) nor KEY- (remove one)' });
    expect(await berth(api.url, ['node', 'label', 'n1', 'zone=a', 'zone-'])).toMatchObject({ code: 2, err: 'error: label "zone" is given more than once' });
    expect(api.bodies).toEqual([]);
  });

  it('rm removes a node, --force asks for it, and a refusal exits 1 with the reason', async () => {
    api.on('DELETE /api/v1/nodes/n1', json(200, { ...node1, status: { ...node1.status, tasks: 0 } }));
    expect(await berth(api.url, ['node', 'rm', 'n1'])).toMatchObject({ code: 0, out: 'node/n1 removed' });
    api.on('DELETE /api/v1/nodes/n1?force=true', json(200, { ...node1, status: { ...node1.status, tasks: 2 } }));
    expect(await berth(api.url, ['node', 'rm', 'n1', '--force'])).toMatchObject({
      code: 0,
      out: 'node/n1 removed (2 tasks were on it: replicated ones are replaced on other nodes)',
    });
    api.on('DELETE /api/v1/nodes/n2', json(409, { code: 'CONFLICT', detail: 'node "n2" is ready: stop its agent first, or use --force' }));
    expect(await berth(api.url, ['node', 'rm', 'n2'])).toMatchObject({ code: 1, err: 'error: node "n2" is ready: stop its agent first, or use --force' });
  });
});

describe('berth why', () => {
  it("prints a pending task's explanation, and a running task's state", async () => {
    const pending = { ...runningTask, spec: { desiredState: 'running' }, status: { state: 'pending', message: '3 nodes: insufficient memory (needs 64Mi); 1 node: drained' } };
    api.on('GET /api/v1/tasks/web.1.x7k2p', json(200, pending)).on('GET /api/v1/tasks/web.2.q', json(200, { ...runningTask, metadata: { ...runningTask.metadata, name: 'web.2.q' } }));
    expect((await berth(api.url, ['why', 'web.1.x7k2p'])).out).toBe('web.1.x7k2p: pending: 3 nodes: insufficient memory (needs 64Mi); 1 node: drained');
    expect((await berth(api.url, ['why', 'web.2.q'])).out).toBe('web.2.q: running on n1');
  });

  it('exits 1 for an unknown task', async () => {
    api.on('GET /api/v1/tasks/web.9.z', json(404, { code: 'NOT_FOUND', detail: 'task "web.9.z" not found' }));
    expect(await berth(api.url, ['why', 'web.9.z'])).toMatchObject({ code: 1, err: 'error: task "web.9.z" not found' });
  });
});

describe('berth agent and berth up', () => {
  it('refuse to run without root, with exit 1 and the reason', async () => {
    const agent = await berth(api.url, ['agent', '--server', '127.0.0.1:7071', '--name', 'n1']);
    expect(agent).toMatchObject({ code: 1, out: '' });
    expect(agent.err).toMatch(/^error: berth agent must run as root \(it runs containers with runc.*\); run it again with sudo$/);
    const up = await berth(api.url, ['up', '--data-dir', '/nonexistent/berth']);
    expect(up.code).toBe(1);
    expect(up.err).toMatch(/^error: berth up must run as root .*"berth server" runs the control plane alone/);
  });

  it('check their flags before anything else (exit 2)', async () => {
    const env = { isRoot: true };
    expect(await berth(api.url, ['agent', '--name', 'n1'], { env, noServer: true })).toMatchObject({
      code: 2,
      err: "error: berth agent needs --server HOST:PORT: the control plane's agent address, e.g. 10.0.0.1:7071",
    });
    expect(await berth(api.url, ['agent', '--server', '10.0.0.1', '--name', 'n1'], { env })).toMatchObject({
      code: 2,
      err: 'error: --server must be HOST:PORT with a port 0..65535 (got "10.0.0.1")',
    });
    expect(await berth(api.url, ['agent', '--server', '127.0.0.1:7071', '--label', 'zone'], { env })).toMatchObject({
      code: 2,
      err: 'error: --label must be KEY=VALUE (got "zone")',
    });
  });

  it('name the default node after the host in their help', async () => {
    const help = await berth(api.url, ['agent', '--help'], { env: { hostname: 'Build-Box.example.com' } });
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/DNS label: build-box\)/);
    expect(help.out).toMatch(/--server HOST:PORT \(required\): the control plane's agent \(gRPC\) address/);
    expect((await berth(api.url, ['up', '--help'], { env: { hostname: 'Build-Box' } })).out).toMatch(/node agent named "build-box"/);
  });
});
