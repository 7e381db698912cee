import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { SessionRequest, SessionResponse } from '@berth/proto';
import type { NodeSession, SessionEnd, SessionStream } from './node-session';

type Call = ServerDuplexStream<SessionRequest, SessionResponse>;

const CODES: Readonly<Record<SessionEnd['code'], status>> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  UNAVAILABLE: status.UNAVAILABLE,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
};

/** The gRPC call as a SessionStream: writes while open; ends with OK or with the given status. */
export function streamOf(call: Call): SessionStream {
  let ended = false;
  return {
    send: (msg) => {
      if (!ended && !call.writableEnded && !call.destroyed) call.write(msg);
    },
    end: (error) => {
      if (ended) return;
      ended = true;
      if (error) call.emit('error', { code: CODES[error.code], details: error.message });
      else call.end();
    },
  };
}

/** Feeds the call's messages to the session and closes the session when the call ends either way. */
export function attachCall(call: Call, session: NodeSession): void {
  call.on('data', (m: SessionRequest) => void session.receive(m));
  call.on('end', () => {
    session.close();
    call.end();
  });
  call.on('cancelled', () => session.close());
  call.on('error', () => session.close());
  call.on('close', () => session.close());
}
