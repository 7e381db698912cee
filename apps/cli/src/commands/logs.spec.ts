import type { TaskView } from '@berth/api';
import type { TaskState } from '@berth/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { berth, json, sequence, StandIn, type Handler } from '../__fixtures__/stand-in';
import { webService } from '../output/__fixtures__/views';

const T = '2026-03-01T12:00:01Z';

/** A finished text/plain log answer. */
const text =
  (...lines: string[]): Handler =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(lines.map((l) => `${l}\n`).join(''));
  };

function task(id: string, state: TaskState): TaskView {
  return {
    metadata: { name: id, service: 'web', slot: Number(id.split('.')[1]), createdAt: T },
    spec: { desiredState: 'running', node: 'n1' },
    status: { state },
  };
}

const api = new StandIn();
beforeAll(() => api.start());
afterAll(() => api.stop());
beforeEach(() => api.reset());

describe('berth logs TASK', () => {
  it('prints only the text of each line, with the time when --timestamps is given', async () => {
    api.on('GET /api/v1/tasks/web.1.a/logs?follow=false', text(`${T} stdout hello world`, `${T} stderr oops`));
    expect(await berth(api.url, ['logs', 'web.1.a'])).toMatchObject({ code: 0, out: 'hello world\noops', err: '' });
    expect((await berth(api.url, ['logs', 'web.1.a', '--timestamps'])).out).toBe(`${T} hello world\n${T} oops`);
  });

  it('passes --tail and --follow to the server', async () => {
    api.on('GET /api/v1/tasks/web.1.a/logs?follow=false&tail=5', text(`${T} stdout last`));
    expect((await berth(api.url, ['logs', 'web.1.a', '--tail', '5'])).out).toBe('last');
    expect(await berth(api.url, ['logs', 'web.1.a', '--tail', 'many'])).toMatchObject({ code: 2, err: expect.stringMatching(/--tail must be a whole number/) });
  });

  it('exits 1 for an unknown task', async () => {
    api.on('GET /api/v1/tasks/web.9.zz/logs?follow=false', json(404, { code: 'NOT_FOUND', detail: 'task "web.9.zz" not found' }));
    expect(await berth(api.url, ['logs', 'web.9.zz'])).toEqual({ code: 1, out: '', err: 'error: task "web.9.zz" not found', raw: '' });
  });

  it('-f streams until Ctrl-C, then ends the request and exits 0', async () => {
    let closed!: () => void;
    const requestClosed = new Promise<void>((resolve) => (closed = resolve));
    api.on('GET /api/v1/tasks/web.1.a/logs?follow=true', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(`${T} stdout first\n${T} stdout sec`); // the rest of the line comes later
      setTimeout(() => res.write(`ond\n`), 20);
      res.on('close', closed);
    });
    const ctrlC = new AbortController();
    const r = await berth(api.url, ['logs', '-f', 'web.1.a'], {
      interruption: ctrlC.signal,
      onOut: (line) => {
        if (line === 'second') ctrlC.abort('SIGINT');
      },
    });
    expect(r).toEqual({ code: 0, out: 'first\nsecond', err: '', raw: '' });
    await requestClosed;
  });
});

describe('berth logs SERVICE', () => {
  it('streams every running task, each line prefixed with its task id', async () => {
    api
      .on('GET /api/v1/services/web', json(200, webService))
      .on('GET /api/v1/tasks?service=web', json(200, [task('web.2.b', 'running'), task('web.1.a', 'running'), task('web.3.c', 'pending'), task('web.1.old', 'complete')]))
      .on('GET /api/v1/tasks/web.1.a/logs?follow=false', text(`${T} stdout a1`, `${T} stdout a2`))
      .on('GET /api/v1/tasks/web.2.b/logs?follow=false', text(`${T} stdout b1`));
    const r = await berth(api.url, ['logs', 'web']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n').sort()).toEqual(['[web.1.a] a1', '[web.1.a] a2', '[web.2.b] b1']);
    expect(r.out.indexOf('[web.1.a] a1')).toBeLessThan(r.out.indexOf('[web.1.a] a2'));
    expect(api.requests.filter((q) => q.includes('/logs'))).toHaveLength(2);
  });

  it('reports a task whose node is not connected, prints the others, and exits 1', async () => {
    api
      .on('GET /api/v1/services/web', json(200, webService))
      .on('GET /api/v1/tasks?service=web', json(200, [task('web.1.a', 'running'), task('web.2.b', 'running')]))
      .on('GET /api/v1/tasks/web.1.a/logs?follow=false', json(503, { code: 'UNAVAILABLE', detail: 'node n1 is not connected' }))
      .on('GET /api/v1/tasks/web.2.b/logs?follow=false', text(`${T} stdout b1`));
    expect(await berth(api.url, ['logs', 'web'])).toEqual({ code: 1, out: '[web.2.b] b1', err: 'error: logs of web.1.a: node n1 is not connected', raw: '' });
  });

  it('exits 1 for an unknown service', async () => {
    api.on('GET /api/v1/services/nope', json(404, { code: 'NOT_FOUND', detail: 'service "nope" not found' }));
    expect(await berth(api.url, ['logs', 'nope'])).toMatchObject({ code: 1, err: 'error: service "nope" not found' });
  });

  it('-f also streams a task that starts later', async () => {
    api
      .on('GET /api/v1/services/web', json(200, webService))
      .on('GET /api/v1/tasks?service=web', sequence(json(200, [task('web.1.a', 'pending')]), json(200, [task('web.1.a', 'running')])))
      .on('GET /api/v1/tasks/web.1.a/logs?follow=true', (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write(`${T} stdout up\n`);
      });
    const ctrlC = new AbortController();
    const r = await berth(api.url, ['logs', '-f', 'web'], { interruption: ctrlC.signal, onOut: () => ctrlC.abort('SIGINT') });
    expect(r).toMatchObject({ code: 0, out: '[web.1.a] up' });
  });

  it('-f with no running task says it waits, and Ctrl-C ends it with exit 0', async () => {
    api.on('GET /api/v1/services/web', json(200, webService)).on('GET /api/v1/tasks?service=web', json(200, [task('web.1.a', 'pending')]));
    const ctrlC = new AbortController();
    const run = berth(api.url, ['logs', 'web', '-f'], { interruption: ctrlC.signal });
    setTimeout(() => ctrlC.abort('SIGINT'), 50);
    expect(await run).toEqual({ code: 0, out: '', err: 'berth: service web has no running tasks yet; waiting for some (Ctrl-C to stop)', raw: '' });
  });
});
