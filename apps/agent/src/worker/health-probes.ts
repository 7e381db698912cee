import { request } from 'node:http';
import { connect } from 'node:net';
import { formatDuration, type HealthCheck } from '@berth/core';
import type { ExecOptions, ExecResult } from '@berth/runtime';
import { probeResult, type ProbeResult } from './health';

/**
 * One run of a health check, per kind: `exec` runs a command inside the task, `tcp` and `http`
 * connect from the node (the agent process) to the task's address. A run settles within the
 * check's timeout; when `signal` aborts it rejects, and whatever it opened is closed either way.
 */
export type Probe = (signal: AbortSignal) => Promise<ProbeResult>;

/** What a probe runs against: the task as the runtime holds it. */
export interface ProbeTarget {
  /** Runs a command inside the task (RuntimeDriver.exec, bound to the task). */
  readonly exec: (command: readonly string[], o: ExecOptions) => Promise<ExecResult>;
  /** The task's address on the node (its CNI IP; a VM's guest owns it); undefined without a network. */
  readonly ip: string | undefined;
}

/** Most of a response body an http check reads (and discards) before it closes the connection. */
export const HTTP_BODY_MAX = 64 * 1024;

export function probeFor(check: HealthCheck, target: ProbeTarget): Probe {
  const { timeoutMs } = check;
  if (check.tcp === undefined && check.http === undefined) {
    const command = check.exec;
    return async (signal) => probeResult(check, await target.exec(command, { timeoutMs, signal }));
  }
  const { ip } = target;
  if (ip === undefined) {
    const kind = check.tcp ? 'a tcp' : 'an http';
    return async () => ({ passed: false, reason: `the task has no network address, so ${kind} check cannot reach it` });
  }
  if (check.tcp) {
    const { port } = check.tcp;
    return (signal) => tcpProbe({ host: ip, port, timeoutMs }, signal);
  }
  const { port, path } = check.http;
  return (signal) => httpProbe({ host: ip, port, path, timeoutMs }, signal);
}

export interface TcpTarget {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
}

/** Passes once a connection opens; the connection is closed right away. */
export function tcpProbe(t: TcpTarget, signal: AbortSignal): Promise<ProbeResult> {
  return settleOnce(t.timeoutMs, signal, (finish) => {
    const socket = connect({ host: t.host, port: t.port });
    socket.on('connect', () => finish({ passed: true }));
    socket.on('error', (e) => finish({ passed: false, reason: e.message }));
    return () => socket.destroy();
  });
}

export interface HttpTarget extends TcpTarget {
  readonly path: string;
}

/**
 * `GET http://host:port/path`: a status of 200–399 passes (redirects are not followed). The body
 * is read and discarded up to HTTP_BODY_MAX, then the connection is closed; the verdict is the
 * status, also when the body is cut short or the timeout strikes after the headers came.
 */
export function httpProbe(t: HttpTarget, signal: AbortSignal): Promise<ProbeResult> {
  const url = `http://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}${t.path}`;
  return settleOnce(t.timeoutMs, signal, (finish, onTimeout) => {
    const req = request({ host: t.host, port: t.port, path: t.path, method: 'GET', agent: false, headers: { 'user-agent': 'berth-health-check', connection: 'close' } });
    req.on('error', (e) => finish({ passed: false, reason: e.message }));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const verdict: ProbeResult = status >= 200 && status < 400 ? { passed: true } : { passed: false, reason: `HTTP ${status} from ${url}` };
      onTimeout(verdict);
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > HTTP_BODY_MAX) finish(verdict);
      });
      res.on('end', () => finish(verdict));
      res.on('error', () => finish(verdict));
    });
    req.end();
    return () => req.destroy();
  });
}

type Finish = (result: ProbeResult) => void;

/**
 * Runs `start` and settles with the first result it reports, a timeout failure after `timeoutMs`
 * (or the result `onTimeout` named since), or a rejection when `signal` aborts. The cleanup that
 * `start` returns runs exactly once, on whichever comes first.
 */
function settleOnce(timeoutMs: number, signal: AbortSignal, start: (finish: Finish, onTimeout: (r: ProbeResult) => void) => () => void): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    let done = false;
    let atTimeout: ProbeResult = { passed: false, reason: `timed out after ${formatDuration(timeoutMs)}` };
    let cleanup: () => void = () => undefined;
    const settle = (end: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      cleanup();
      end();
    };
    const onAbort = (): void => settle(() => reject(signal.reason as Error));
    const timer = setTimeout(() => settle(() => resolve(atTimeout)), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    cleanup = start(
      (result) => settle(() => resolve(result)),
      (result) => {
        atTimeout = result;
      },
    );
    if (done) cleanup();
  });
}
