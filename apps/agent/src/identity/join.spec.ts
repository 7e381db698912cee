import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, ServerCredentials, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { caFingerprint, certificateCommonName, createCa, issueCertificate, newPrivateKey, readCsr, type KeyedCertificate } from '@berth/pki';
import { NodeCaServiceService, type JoinRequest, type JoinResponse, type RenewRequest, type RenewResponse } from '@berth/proto';
import { establishIdentity } from './establish';
import { IdentityProvider } from './identity-provider';
import { joinCluster, requestRenewal } from './join';
import { identityFiles, loadIdentity } from './node-identity';
import { tlsTarget } from './tls-target';

const DAY = 86_400_000;
const TOKEN_REST = 'abcdef123456.abcdefghijklmnopqrstuvwxyz012345';

/** A NodeCaService double on real TLS: GetCa, Join (token checked by `joinError`), Renew (a client certificate required). */
class CaServer {
  readonly ca = createCa({ commonName: 'berth cluster CA' });
  readonly serverCert: KeyedCertificate;
  private readonly servers: Server[] = [];
  joinError: { code: status; details: string } | undefined;
  readonly joins: JoinRequest[] = [];
  /** The common name of the client certificate each Renew came with. */
  readonly renewPeers: string[] = [];
  address = '';
  mtlsAddress = '';

  constructor() {
    const keyPem = newPrivateKey();
    this.serverCert = {
      keyPem,
      certPem: issueCertificate(this.ca, { publicKey: createPublicKey(keyPem), commonName: 'control plane', uses: ['server'], ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'], lifetimeMs: DAY }),
    };
  }

  token(fingerprint = caFingerprint(this.ca.certPem)): string {
    return `BERTHJ1-${fingerprint}-${TOKEN_REST}`;
  }

  private issue(csrPem: string, lifetimeMs = 10 * DAY): string {
    const csr = readCsr(csrPem);
    return issueCertificate(this.ca, { publicKey: csr.publicKey, commonName: csr.commonName, uses: ['client'], lifetimeMs });
  }

  async start(): Promise<void> {
    this.address = await this.listen(false);
    this.mtlsAddress = await this.listen(true);
  }

  private async listen(clientCert: boolean): Promise<string> {
    const server = new Server();
    server.addService(NodeCaServiceService, {
      getCa: (_: unknown, cb: sendUnaryData<{ caPem: string }>) => cb(null, { caPem: this.ca.certPem }),
      join: (call: ServerUnaryCall<JoinRequest, JoinResponse>, cb: sendUnaryData<JoinResponse>) => {
        this.joins.push(call.request);
        if (this.joinError) return cb(this.joinError);
        cb(null, { certificatePem: this.issue(call.request.csrPem), caPem: this.ca.certPem });
      },
      renew: (call: ServerUnaryCall<RenewRequest, RenewResponse>, cb: sendUnaryData<RenewResponse>) => {
        const peer = call.getAuthContext().sslPeerCertificate;
        this.renewPeers.push(String(peer?.subject?.CN ?? 'none') + '@' + String(peer?.serialNumber ?? ''));
        cb(null, { certificatePem: this.issue(call.request.csrPem, 20 * DAY) });
      },
    });
    const creds = ServerCredentials.createSsl(Buffer.from(this.ca.certPem), [{ cert_chain: Buffer.from(this.serverCert.certPem), private_key: Buffer.from(this.serverCert.keyPem) }], clientCert);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
    this.servers.push(server);
    return `127.0.0.1:${port}`;
  }

  stop(): void {
    for (const s of this.servers) s.forceShutdown();
  }
}

describe('joining over TLS', () => {
  const cp = new CaServer();
  let dataDir: string;
  let logs: string[];
  const log = (l: string) => logs.push(l);

  beforeAll(() => cp.start());
  afterAll(() => cp.stop());
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-join-'));
    logs = [];
    cp.joinError = undefined;
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('fetches the CA unverified, pins it and writes a CN=node:<name> certificate the CA signed, with the right modes', async () => {
    const files = identityFiles(dataDir);
    const identity = await joinCluster({ server: cp.address, name: 'n1', token: cp.token(), files, log });

    const cert = new X509Certificate(identity.certPem);
    expect(certificateCommonName(cert)).toBe('node:n1');
    expect(cert.verify(new X509Certificate(cp.ca.certPem).publicKey)).toBe(true);
    expect(identity.caPem).toBe(cp.ca.certPem);
    expect(cp.joins.at(-1)?.token).toBe(cp.token());
    expect(logs).toEqual([`joined the cluster as node n1; certificate valid until ${identity.validTo.toISOString()}`]);

    const mode = async (p: string) => (await stat(p)).mode & 0o777;
    expect(await mode(files.dir)).toBe(0o700);
    expect(await mode(files.keyFile)).toBe(0o600);
    expect(await mode(files.certFile)).toBe(0o644);
    expect(await mode(files.caFile)).toBe(0o644);
    expect((await readdir(files.dir)).sort()).toEqual(['ca.pem', 'node.key', 'node.pem']);
    const stored = await loadIdentity(files, 'n1');
    expect('identity' in stored && stored.identity.certPem).toBe(identity.certPem);
  });

  it('refuses a CA whose fingerprint is not the one the token names, and writes nothing', async () => {
    const other = caFingerprint(createCa({ commonName: 'another CA' }).certPem);
    const joins = cp.joins.length;
    await expect(joinCluster({ server: cp.address, name: 'n1', token: cp.token(other), files: identityFiles(dataDir), log })).rejects.toThrow(
      `the control plane at ${cp.address} presented a CA with fingerprint ${caFingerprint(cp.ca.certPem)}, not the ${other} the join token names: refusing to join`,
    );
    expect(cp.joins.length).toBe(joins);
    expect(await readdir(dataDir)).toEqual([]);
  });

  it("reports the server's refusal with its details, and writes nothing", async () => {
    cp.joinError = { code: status.UNAUTHENTICATED, details: 'join token abcdef123456 expired' };
    await expect(joinCluster({ server: cp.address, name: 'n1', token: cp.token(), files: identityFiles(dataDir), log })).rejects.toThrow(
      `joining ${cp.address} as node n1 failed: UNAUTHENTICATED: join token abcdef123456 expired`,
    );
    cp.joinError = { code: status.ALREADY_EXISTS, details: 'node n1 exists' };
    await expect(joinCluster({ server: cp.address, name: 'n1', token: cp.token(), files: identityFiles(dataDir), log })).rejects.toThrow(/failed: ALREADY_EXISTS: node n1 exists$/);
    expect(await readdir(dataDir)).toEqual([]);
  });

  it('refuses what is not a join token before dialing', async () => {
    const joins = cp.joins.length;
    await expect(joinCluster({ server: cp.address, name: 'n1', token: `BERTHA1-${TOKEN_REST}`, files: identityFiles(dataDir), log })).rejects.toThrow(/^not a join token/);
    await expect(joinCluster({ server: cp.address, name: 'n1', token: 'hello', files: identityFiles(dataDir), log })).rejects.toThrow(/^not a join token/);
    expect(cp.joins.length).toBe(joins);
  });

  it('joins once: a restart reuses the certificate without asking for the token', async () => {
    let asked = 0;
    const token = async () => {
      asked++;
      return cp.token();
    };
    const first = await establishIdentity({ server: cp.address, name: 'n1', dataDir, token, log });
    const second = await establishIdentity({ server: cp.address, name: 'n1', dataDir, token, log });
    expect([first.joined, second.joined, asked]).toEqual([true, false, 1]);
    expect(second.identity.certPem).toBe(first.identity.certPem);
    await expect(establishIdentity({ server: cp.address, name: 'n2', dataDir, token, log })).rejects.toThrow(/is the certificate of node:n1, not node:n2/);
  });

  it('renews over mutual TLS with the current certificate, and new connections present the renewed one', async () => {
    const { identity } = await establishIdentity({ server: cp.address, name: 'n1', dataDir, token: cp.token(), log });
    const provider = new IdentityProvider(identity, tlsTarget(cp.mtlsAddress).verify);
    const creds = provider.channelCredentials();
    const renewKey = newPrivateKey();
    const { createCsr } = await import('@berth/pki');
    const renewed = await requestRenewal(cp.mtlsAddress, creds, createCsr(renewKey, 'node:n1'));
    const serial = (pem: string) => new X509Certificate(pem).serialNumber.toUpperCase();
    expect(cp.renewPeers.at(-1)).toBe(`node:n1@${serial(identity.certPem)}`);
    provider.update({ ...identity, certPem: renewed, keyPem: renewKey });
    await requestRenewal(cp.mtlsAddress, creds, createCsr(renewKey, 'node:n1'));
    expect(cp.renewPeers.at(-1)).toBe(`node:n1@${serial(renewed)}`);
  });
});
