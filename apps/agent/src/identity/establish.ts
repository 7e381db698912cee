import { joinCluster } from './join';
import { identityFiles, loadIdentity, NEVER_JOINED, type IdentityFiles, type NodeIdentity } from './node-identity';

/** What `berth agent` tells an operator whose node has no certificate and was given no token. */
export const JOIN_HINT = 'join with a token (berth token create --role join on the control plane, then berth agent --token …)';

export interface EstablishOptions {
  /** host:port of the control plane's gRPC listener. */
  readonly server: string;
  readonly name: string;
  readonly dataDir: string;
  /** The join token, or where to get it: called only when the node has to join. */
  readonly token?: string | (() => Promise<string>);
  readonly log: (line: string) => void;
  readonly now?: () => Date;
}

/**
 * The node's identity at agent start: the one in `<dataDir>/pki` when it is this node's and has
 * not expired (a restarted agent keeps its certificate, no token needed); else a join with the
 * token. Throws a plain Error for an operator: another node's data dir, no token, a bad token, a
 * CA that is not the token's, the control plane refusing the join.
 */
export async function establishIdentity(o: EstablishOptions): Promise<{ readonly identity: NodeIdentity; readonly files: IdentityFiles; readonly joined: boolean }> {
  const files = identityFiles(o.dataDir);
  const stored = await loadIdentity(files, o.name, (o.now ?? (() => new Date()))());
  if ('identity' in stored) return { identity: stored.identity, files, joined: false };
  if (o.token === undefined) {
    throw new Error(stored.needsJoin === NEVER_JOINED ? `this node has no certificate yet: ${JOIN_HINT}` : `this node has no usable certificate (${stored.needsJoin}): ${JOIN_HINT}`);
  }
  const token = typeof o.token === 'string' ? o.token : await o.token();
  const identity = await joinCluster({ server: o.server, name: o.name, token, files, log: o.log });
  return { identity, files, joined: true };
}
