import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import type { Duplex } from 'node:stream';

/** Set on a request one replica passes to another: the receiver answers from its own sessions only. */
export const FORWARDED_HEADER = 'berth-forwarded-by';

/** How long a peer may take to answer the forwarded request's headers. */
const PEER_ANSWER_MS = 10_000;

/**
 * A GET to another replica's API over HTTPS, trusting only the cluster CA, with the caller's own
 * Authorization (the peer checks it again). Resolves with the answer once its headers are in;
 * rejects when the peer cannot be reached or does not answer within `timeoutMs`.
 */
export function peerGet(url: URL, o: { readonly ca: string; readonly headers: Record<string, string>; readonly signal: AbortSignal; readonly timeoutMs: number }): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const out = request(url, { method: 'GET', headers: o.headers, ca: o.ca, signal: o.signal });
    const timer = setTimeout(() => out.destroy(new Error('no answer in time')), o.timeoutMs);
    out.on('response', (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    out.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    out.end();
  });
}

/**
 * Hands an upgrade request for a node whose session another replica holds to that replica,
 * trying `peers` in turn: the first that upgrades gets the client's connection spliced to its
 * own (both directions piped, so back-pressure holds); one that answers 503 does not hold the
 * session either and the next is tried; any other answer is the client's answer. Resolves false
 * when no peer held the session (nothing was written to the client then).
 */
export async function forwardUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, peers: readonly string[], self: string, ca: string): Promise<boolean> {
  for (const apiUrl of peers) {
    if (client.destroyed) return true;
    if (await tryPeer(apiUrl, req, client, head, self, ca)) return true;
  }
  return false;
}

function tryPeer(apiUrl: string, req: IncomingMessage, client: Duplex, head: Buffer, self: string, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    // The caller's Authorization goes along: the peer checks it as its own request.
    const headers = { ...req.headers, [FORWARDED_HEADER]: self };
    delete headers.host;
    const out = request(new URL(req.url ?? '/', apiUrl), { method: req.method, headers, ca });
    const timer = setTimeout(() => out.destroy(new Error('no answer in time')), PEER_ANSWER_MS);
    out.on('upgrade', (res: IncomingMessage, peer: Duplex, peerHead: Buffer) => {
      clearTimeout(timer);
      client.write(statusHead(res));
      if (peerHead.length > 0) client.write(peerHead);
      if (head.length > 0) peer.write(head);
      peer.on('error', () => client.destroy());
      client.on('error', () => peer.destroy());
      peer.on('close', () => client.destroy());
      client.on('close', () => peer.destroy());
      client.pipe(peer);
      peer.pipe(client);
      resolve(true);
    });
    out.on('response', (res: IncomingMessage) => {
      clearTimeout(timer);
      if (res.statusCode === 503) {
        res.resume();
        return resolve(false);
      }
      // The peer holds the session and refused (the task is not running there, say): its answer is ours.
      client.write(statusHead(res));
      res.pipe(client);
      resolve(true);
    });
    // A peer that cannot be reached holds no session we could use.
    out.on('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    out.end();
  });
}

/** The status line and headers of a peer's answer, as the client is sent them. */
function statusHead(res: IncomingMessage): string {
  const lines = [`HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}`];
  for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}
