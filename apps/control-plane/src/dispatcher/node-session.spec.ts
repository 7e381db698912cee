import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TaskRecord } from '@berth/store';
import { TaskHealth, TaskState, type SessionRequest, type SessionResponse } from '@berth/proto';
import { specFixture, taskFixture } from '../testing/fixtures';
import { InMemoryStore } from '@berth/store/testing';
import { NodeSession, type SessionEnd, type SessionStream } from './node-session';
import { SessionRegistry } from './session-registry';
import { AccessError } from '../identity/identity';

class FakeStream implements SessionStream {
  readonly sent: SessionResponse[] = [];
  ended: SessionEnd | 'ok' | undefined;
  send(msg: SessionResponse): void {
    this.sent.push(msg);
  }
  end(error?: SessionEnd): void {
    this.ended = error ?? 'ok';
  }
  of<C extends NonNullable<SessionResponse['msg']>['$case']>(c: C): Extract<NonNullable<SessionResponse['msg']>, { $case: C }>['value'][] {
    return this.sent.flatMap((m) => (m.msg?.$case === c ? [m.msg.value as never] : []));
  }
}

const template = specFixture().template;
const placed = (slot: number, node: string, opts: Parameters<typeof taskFixture>[2] = {}): TaskRecord => ({
  ...taskFixture('web', slot, { state: 'assigned', ...opts }),
  nodeName: node,
  template,
});

const hello = (node: string): SessionRequest => ({
  msg: {
    $case: 'hello',
    value: { nodeName: node, agentVersion: 't', address: '10.0.0.1', capacity: { cpuMillis: 2000, memoryBytes: 1 << 30 }, drivers: ['runc', 'qemu'], runtimes: ['container', 'vm'], labels: { zone: 'a' }, metricsAddress: '', tasks: [], driverDetails: { qemu: 'probing' } },
  },
});

describe('NodeSession', () => {
  let stop = new AbortController();
  afterEach(() => {
    stop.abort();
    stop = new AbortController();
  });

  function setup() {
    const store = new InMemoryStore();
    const tasks = store.taskInformer();
    void tasks.run(stop.signal);
    const registry = new SessionRegistry();
    tasks.subscribe((e) => registry.taskChanged(e));
    /** A session whose client certificate names node `peer` (revoked: no longer listed for it). */
    const open = (peer = 'n1', o: { revoked?: boolean } = {}) => {
      const stream = new FakeStream();
      const certificates = {
        requireCurrent: () => (o.revoked ? Promise.reject(new AccessError('UNAUTHENTICATED', `the certificate of node ${peer} was revoked`)) : Promise.resolve()),
      };
      const session = new NodeSession(
        { peer: { name: peer, serial: '01' }, certificates, store, tasks, registry, leaseTtlSeconds: 5, heartbeatIntervalMs: 2000, nodeDownAfterMs: 5000, log: () => undefined },
        stream,
      );
      return { stream, session };
    };
    return { store, registry, open };
  }

  it('answers Hello with Welcome and the full set of the node, and registers the node ready', async () => {
    const { store, open } = setup();
    store.putTask(placed(1, 'n1'));
    store.putTask(placed(2, 'n2'));
    store.putTask(placed(3, 'n1', { state: 'shutdown', desired: 'shutdown' }));
    store.putTask(placed(4, 'n1', { state: 'running', desired: 'shutdown' }));
    const { stream, session } = open();
    await session.receive(hello('n1'));
    expect(stream.sent[0]?.msg?.$case).toBe('welcome');
    expect(stream.of('welcome')[0]).toMatchObject({ heartbeatIntervalMs: 2000, nodeDownAfterMs: 5000 });
    const [full] = stream.of('assignments');
    expect(full?.full).toBe(true);
    expect(full?.upsert.map((a) => a.slot).sort()).toEqual([1, 4]);
    expect(full?.upsert[0]?.spec?.image).toBe(template.image);
    expect(await store.getNode('n1')).toMatchObject({ state: 'ready', labels: { zone: 'a' }, availability: 'active' });
  });

  it('sends a full set larger than one part as several, with one generation, `more` on all but the last', async () => {
    const { store, open } = setup();
    // 110 tasks with a 40 KB env value each: 4.4 MB, more than gRPC's default 4 MiB message.
    const big = { ...template, env: { BIG: 'x'.repeat(40_000) } };
    for (let slot = 1; slot <= 110; slot++) store.putTask({ ...placed(slot, 'n1'), template: big });
    const { stream, session } = open();
    await session.receive(hello('n1'));
    const parts = stream.of('assignments');
    expect(parts.length).toBeGreaterThan(4);
    expect(new Set(parts.map((p) => p.generation))).toEqual(new Set([1]));
    expect(parts.every((p) => p.full)).toBe(true);
    expect(parts.map((p) => p.more)).toEqual([...parts.slice(1).map(() => true), false]);
    expect(parts.flatMap((p) => p.upsert.map((a) => a.slot)).sort((a, b) => a - b)).toEqual(Array.from({ length: 110 }, (_, i) => i + 1));
    store.putTask({ ...placed(111, 'n1') });
    expect(stream.of('assignments').at(-1)).toMatchObject({ generation: 2, full: false, more: false });
  });

  it("records a driver's probe result sent after Hello over what Hello said, keeping the rest", async () => {
    const { store, open } = setup();
    const { session } = open();
    await session.receive(hello('n1'));
    expect(await store.getNode('n1')).toMatchObject({ drivers: ['runc', 'qemu'], driverDetails: { qemu: 'probing' } });
    await session.receive({ msg: { $case: 'nodeUpdate', value: { driverDetails: { qemu: 'tcg' } } } });
    expect(await store.getNode('n1')).toMatchObject({ state: 'ready', labels: { zone: 'a' }, drivers: ['runc', 'qemu'], runtimes: ['container', 'vm'], driverDetails: { qemu: 'tcg' } });
  });

  it('sends increments with a growing generation as the node’s tasks change', async () => {
    const { store, open } = setup();
    const { stream, session } = open();
    await session.receive(hello('n1'));
    store.putTask(placed(1, 'n1'));
    store.putTask(placed(2, 'n2'));
    const t1 = store.tasks.items.get(placed(1, 'n1').id)!;
    store.putTask({ ...t1, desiredState: 'shutdown' });
    store.putTask({ ...t1, desiredState: 'shutdown', status: { state: 'shutdown', updatedAt: 'x' } });
    const msgs = stream.of('assignments');
    expect(msgs.map((m) => m.generation)).toEqual([1, 2, 3, 4]);
    expect(msgs[1]).toMatchObject({ full: false, remove: [] });
    expect(msgs[1]?.upsert[0]?.taskId).toBe(t1.id);
    expect(msgs[2]?.upsert[0]?.desiredState).toBe(2);
    expect(msgs[3]).toMatchObject({ full: false, upsert: [], remove: [t1.id] });
  });

  it('acknowledges a status batch only once the statuses are stored', async () => {
    const { store, open } = setup();
    store.putTask(placed(1, 'n1'));
    const id = placed(1, 'n1').id;
    const { stream, session } = open();
    await session.receive(hello('n1'));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const real = store.updateTaskStatuses.bind(store);
    vi.spyOn(store, 'updateTaskStatuses').mockImplementation(async (node, reports) => {
      await gate;
      return real(node, reports);
    });
    const status = (seq: number, state: TaskState) => ({ taskId: id, state, seq, pid: 42, message: '', updatedAtMs: Date.now(), health: TaskHealth.TASK_HEALTH_UNSPECIFIED });
    const handled = session.receive({ msg: { $case: 'status', value: { statuses: [status(7, TaskState.TASK_STATE_STARTING), status(9, TaskState.TASK_STATE_RUNNING)] } } });
    await new Promise((r) => setTimeout(r, 20));
    expect(stream.of('statusAck')).toEqual([]);
    release();
    await handled;
    expect(stream.of('statusAck')).toEqual([{ seq: 9 }]);
    expect(store.tasks.items.get(id)?.status).toMatchObject({ state: 'running', pid: 42, node: 'n1' });
  });

  it('writes the status batches that arrive during a write together, in one store call, and acknowledges the last', async () => {
    const { store, open } = setup();
    for (const slot of [1, 2, 3]) store.putTask(placed(slot, 'n1'));
    const { stream, session } = open();
    await session.receive(hello('n1'));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const real = store.updateTaskStatuses.bind(store);
    const writes: number[] = [];
    vi.spyOn(store, 'updateTaskStatuses').mockImplementation(async (node, reports) => {
      writes.push(reports.length);
      if (writes.length === 1) await gate;
      return real(node, reports);
    });
    const s = (slot: number, seq: number) => ({ taskId: placed(slot, 'x').id, state: TaskState.TASK_STATE_RUNNING, seq, message: '', updatedAtMs: 1, health: TaskHealth.TASK_HEALTH_UNSPECIFIED });
    const batch = (slot: number, seq: number): SessionRequest => ({ msg: { $case: 'status', value: { statuses: [s(slot, seq)] } } });
    void session.receive(batch(1, 1));
    await new Promise((r) => setTimeout(r, 10)); // the first write is under way
    void session.receive(batch(2, 2));
    const last = session.receive(batch(3, 3));
    release();
    await last;
    expect(writes).toEqual([1, 2]);
    expect(stream.of('statusAck')).toEqual([{ seq: 1 }, { seq: 3 }]);
    for (const slot of [1, 2, 3]) expect(store.tasks.items.get(placed(slot, 'x').id)?.status.state).toBe('running');
  });

  it('ignores reports that would move a state backwards, and those about tasks it does not know', async () => {
    const { store, open } = setup();
    store.putTask(placed(2, 'n1', { state: 'running' }));
    const { session, stream } = open();
    const s = (slot: number, state: TaskState) => ({ taskId: placed(slot, 'x').id, state, seq: slot, message: '', updatedAtMs: 1, health: TaskHealth.TASK_HEALTH_UNSPECIFIED });
    await session.receive(hello('n1'));
    await session.receive({ msg: { $case: 'status', value: { statuses: [s(9, TaskState.TASK_STATE_RUNNING), s(2, TaskState.TASK_STATE_PREPARING)] } } });
    expect(store.tasks.items.get(placed(2, 'x').id)?.status.state).toBe('running');
    expect(stream.ended).toBeUndefined();
  });

  it("ends the session, writing nothing, when a node reports a status for another node's task", async () => {
    const { store, open } = setup();
    store.putTask(placed(1, 'n2'));
    store.putTask(placed(2, 'n1'));
    const { session, stream } = open();
    const s = (slot: number) => ({ taskId: placed(slot, 'x').id, state: TaskState.TASK_STATE_RUNNING, seq: slot, message: '', updatedAtMs: 1, health: TaskHealth.TASK_HEALTH_UNSPECIFIED });
    await session.receive(hello('n1'));
    await session.receive({ msg: { $case: 'status', value: { statuses: [s(2), s(1)] } } });
    expect(stream.ended).toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringContaining("which is node n2's") });
    expect(store.tasks.items.get(placed(1, 'x').id)?.status.state).toBe('assigned');
    expect(store.tasks.items.get(placed(2, 'x').id)?.status.state).toBe('assigned');
  });

  it('refuses a Hello naming another node than its certificate, and one whose certificate was revoked, registering nothing', async () => {
    const { store, open, registry } = setup();
    const spoof = open('n1');
    await spoof.session.receive(hello('n2'));
    expect(spoof.stream.ended).toMatchObject({ code: 'PERMISSION_DENIED', message: "this session's certificate is node n1's: it cannot speak for node n2" });
    const revoked = open('n3', { revoked: true });
    await revoked.session.receive(hello('n3'));
    expect(revoked.stream.ended).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringContaining('revoked') });
    expect(await store.listNodes()).toEqual([]);
    expect(registry.size).toBe(0);
    expect(spoof.stream.sent).toEqual([]);
  });

  it("refuses a Hello that lists another node's task among its own", async () => {
    const { store, open } = setup();
    store.putTask(placed(1, 'n2'));
    const { session, stream } = open();
    const h = hello('n1');
    if (h.msg?.$case === 'hello') h.msg.value.tasks = [{ taskId: placed(1, 'x').id, state: TaskState.TASK_STATE_FAILED, seq: 1, message: '', updatedAtMs: 1, health: TaskHealth.TASK_HEALTH_UNSPECIFIED }];
    await session.receive(h);
    expect(stream.ended).toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(store.tasks.items.get(placed(1, 'x').id)?.status.state).toBe('assigned');
    expect(await store.listNodes()).toEqual([]);
  });

  it('records a health change of a task that stays running, and none for a task without a check', async () => {
    const { store, open } = setup();
    store.putTask(placed(1, 'n1', { state: 'running' }));
    store.putTask(placed(2, 'n1'));
    const [checked, unchecked] = [placed(1, 'n1').id, placed(2, 'n1').id];
    const { session } = open();
    await session.receive(hello('n1'));
    const s = (taskId: string, seq: number, health: TaskHealth) => ({ taskId, state: TaskState.TASK_STATE_RUNNING, seq, message: '', updatedAtMs: seq, health });
    await session.receive({ msg: { $case: 'status', value: { statuses: [s(checked, 1, TaskHealth.TASK_HEALTH_STARTING), s(unchecked, 2, TaskHealth.TASK_HEALTH_UNSPECIFIED)] } } });
    expect(store.tasks.items.get(checked)?.status).toMatchObject({ state: 'running', health: 'starting' });
    await session.receive({ msg: { $case: 'status', value: { statuses: [s(checked, 3, TaskHealth.TASK_HEALTH_HEALTHY)] } } });
    expect(store.tasks.items.get(checked)?.status).toMatchObject({ state: 'running', health: 'healthy' });
    expect(store.tasks.items.get(unchecked)?.status.state).toBe('running');
    expect(store.tasks.items.get(unchecked)?.status).not.toHaveProperty('health');
  });

  it('ends the older session when the same node connects again', async () => {
    const { registry, open, store } = setup();
    const first = open();
    await first.session.receive(hello('n1'));
    const second = open();
    await second.session.receive(hello('n1'));
    expect(first.stream.ended).toBe('ok');
    expect(second.stream.ended).toBeUndefined();
    expect(registry.get('n1')).toBe(second.session);
    // The old session going away does not take the node down: the new one holds it.
    first.session.close();
    expect(registry.get('n1')).toBe(second.session);
    expect((await store.getNode('n1'))?.state).toBe('ready');
  });

  it('refuses a session whose first message is not Hello', async () => {
    const { open, registry } = setup();
    const { stream, session } = open();
    await session.receive({ msg: { $case: 'heartbeat', value: { appliedGeneration: 0, sentAtMs: 0 } } });
    expect(stream.ended).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('Hello') });
    expect(registry.size).toBe(0);
  });

  it('renews the lease on heartbeats, acknowledges each, and lets the node go when the session ends', async () => {
    const { store, open } = setup();
    const { stream, session } = open();
    await session.receive(hello('n1'));
    await session.receive({ msg: { $case: 'heartbeat', value: { appliedGeneration: 1, sentAtMs: 1234 } } });
    expect(store.keepAlives.get('n1')).toBe(1);
    expect(stream.of('heartbeatAck')).toEqual([{ sentAtMs: 1234 }]);
    session.close();
    // Absent but not declared down: only the leader declares a node down.
    expect((await store.getNode('n1'))?.state).toBe('unknown');
  });

  it('relays a log request and its chunks, and cancels it when the reader stops', async () => {
    const { open } = setup();
    const { stream, session } = open();
    await session.receive(hello('n1'));
    const reader = new AbortController();
    const logs = session.openLogs('web.1.x', { follow: true, tail: 10 }, reader.signal);
    const [req] = stream.of('logRequest');
    expect(req).toMatchObject({ taskId: 'web.1.x', follow: true, tail: 10 });
    await session.receive({ msg: { $case: 'log', value: { requestId: req!.requestId, lines: [{ timeMs: 0, stream: 'stdout', text: 'hi' }], end: false, error: '' } } });
    const it = logs[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ text: 'hi' });
    reader.abort();
    expect(stream.of('logCancel')).toEqual([{ requestId: req!.requestId }]);
    expect((await it.next()).done).toBe(true);
  });
});
