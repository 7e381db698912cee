import { status, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { GetCaRequest, GetCaResponse, JoinRequest, JoinResponse, RenewRequest, RenewResponse } from '@berth/proto';
import { AccessError } from '../identity/identity';
import type { NodeCertificates } from '../identity/node-certificates';

/** The DER of the TLS peer's certificate, when it sent one. */
export function peerCertificateOf(call: { getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } }): Buffer | undefined {
  return call.getAuthContext().sslPeerCertificate?.raw;
}

/** An error as a gRPC status: refusals keep their code, anything else is UNAVAILABLE (the agent retries). */
export function grpcError(e: unknown): { code: status; details: string } {
  if (e instanceof AccessError) return { code: status[e.code], details: e.message };
  return { code: status.UNAVAILABLE, details: e instanceof Error ? e.message : String(e) };
}

function answer<Req, Res>(work: (call: ServerUnaryCall<Req, Res>) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, done: sendUnaryData<Res>) => {
    work(call).then(
      (res) => done(null, res),
      (e: unknown) => done(grpcError(e)),
    );
  };
}

/** NodeCaService (proto/berth/agent/v1/agent.proto): the CA, joins and renewals. */
export function nodeCaHandlers(certificates: NodeCertificates, log: (line: string) => void): UntypedServiceImplementation {
  return {
    getCa: answer<GetCaRequest, GetCaResponse>(async () => ({ caPem: certificates.caPem })),
    join: answer<JoinRequest, JoinResponse>(async (call) => {
      try {
        const certificatePem = await certificates.join(call.request.token, call.request.csrPem);
        return { certificatePem, caPem: certificates.caPem };
      } catch (e) {
        log(`join refused from ${call.getPeer()}: ${(e as Error).message}`);
        throw e;
      }
    }),
    renew: answer<RenewRequest, RenewResponse>(async (call) => {
      const peer = certificates.authenticate(peerCertificateOf(call));
      return { certificatePem: await certificates.renew(peer, call.request.csrPem) };
    }),
  };
}
