import { createPublicKey, X509Certificate } from 'node:crypto';
import { Server, ServerCredentials, status, type ServerDuplexStream } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { createCa, issueCertificate, newPrivateKey } from '@berth/pki';
import { DispatcherServiceService, type SessionRequest, type SessionResponse } from '@berth/proto';
import { StatusOutbox } from '../session/outbox';
import { AgentSession } from '../session/session';
import type { Worker } from '../worker/worker';
import { IdentityProvider } from './identity-provider';
import { identityOf } from './node-identity';
import { tlsTarget } from './tls-target';

const DAY = 86_400_000;
const ca = createCa({ commonName: 'berth cluster CA' });

function leaf(commonName: string, uses: ('server' | 'client')[]): { certPem: string; keyPem: string } {
  const keyPem = newPrivateKey();
  return { keyPem, certPem: issueCertificate(ca, { publicKey: createPublicKey(keyPem), commonName, uses, ipAddresses: ['127.0.0.1'], lifetimeMs: DAY }) };
}

describe('the session over mutual TLS', () => {
  const stops: (() => void)[] = [];
  afterEach(() => {
    for (const s of stops.splice(0)) s();
  });

  async function dispatcher(onSession: (call: ServerDuplexStream<SessionRequest, SessionResponse>) => void): Promise<string> {
    const server = new Server();
    server.addService(DispatcherServiceService, { session: onSession });
    const cert = leaf('control plane', ['server']);
    const creds = ServerCredentials.createSsl(Buffer.from(ca.certPem), [{ cert_chain: Buffer.from(cert.certPem), private_key: Buffer.from(cert.keyPem) }], true);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
    stops.push(() => server.forceShutdown());
    return `127.0.0.1:${port}`;
  }

  function session(server: string, provider: IdentityProvider, logs: string[]): AgentSession {
    return new AgentSession({
      server,
      credentials: provider.channelCredentials(),
      certificateFile: '/var/lib/berth/agent/pki/node.pem',
      worker: { tasks: () => [] } as unknown as Worker,
      outbox: new StatusOutbox(),
      hello: () => ({ nodeName: 'n1', agentVersion: '0', address: '127.0.0.1', capacity: { cpuMillis: 1, memoryBytes: 1 }, drivers: [], runtimes: [], driverDetails: {}, labels: {}, metricsAddress: '' }),
      logs: () => (async function* () {})(),
      exec: async () => {
        throw new Error('no exec here');
      },
      log: (l) => logs.push(l),
    });
  }

  it('presents the node certificate, and says plainly when the control plane refuses it', async () => {
    const peers: string[] = [];
    const server = await dispatcher((call) => {
      peers.push(String(call.getAuthContext().sslPeerCertificate?.subject?.CN));
      call.once('data', () => call.emit('error', { code: status.UNAUTHENTICATED, details: 'node n1 was removed' }));
    });
    const n = leaf('node:n1', ['client']);
    const provider = new IdentityProvider(identityOf(ca.certPem, n.certPem, n.keyPem, 'n1'), tlsTarget(server).verify);
    const logs: string[] = [];
    const ctl = new AbortController();
    const run = session(server, provider, logs).run(ctl.signal);
    await expect.poll(() => logs.length, { timeout: 5_000 }).toBeGreaterThanOrEqual(2); // it keeps retrying
    ctl.abort();
    await run;
    expect(peers.slice(0, 2)).toEqual(['node:n1', 'node:n1']);
    expect(logs[0]).toMatch(
      /^the control plane refused this node's certificate \(node n1 was removed\): was the node removed\? Remove \/var\/lib\/berth\/agent\/pki\/node\.pem and join again with a token; retrying in \d+ ms$/,
    );
  });

  it('keeps the stream up when the identity is renewed; the next connection presents the new certificate', async () => {
    const serials: string[] = [];
    const calls: ServerDuplexStream<SessionRequest, SessionResponse>[] = [];
    const server = await dispatcher((call) => {
      serials.push(String(call.getAuthContext().sslPeerCertificate?.serialNumber));
      calls.push(call);
      call.on('data', () => undefined);
      call.on('error', () => undefined);
    });
    const first = leaf('node:n1', ['client']);
    const provider = new IdentityProvider(identityOf(ca.certPem, first.certPem, first.keyPem, 'n1'), tlsTarget(server).verify);
    const logs: string[] = [];
    const ctl = new AbortController();
    const run = session(server, provider, logs).run(ctl.signal);
    await expect.poll(() => calls.length, { timeout: 5_000 }).toBe(1);
    const second = leaf('node:n1', ['client']);
    provider.update(identityOf(ca.certPem, second.certPem, second.keyPem, 'n1'));
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toHaveLength(1); // no reconnect
    expect(logs).toEqual([]);
    calls[0]!.end(); // the control plane ends the stream: the agent reconnects…
    await expect.poll(() => calls.length, { timeout: 5_000 }).toBe(2);
    ctl.abort();
    await run;
    const serial = (pem: string) => new X509Certificate(pem).serialNumber.toUpperCase();
    expect(serials.map((s) => s.toUpperCase())).toEqual([serial(first.certPem), serial(second.certPem)]); // …with the new certificate
  });
});
