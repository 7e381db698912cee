import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { issueCertificate, newPrivateKey } from '@berth/pki';
import type { ClusterCa } from './identity';

/** The names and addresses a serving certificate is valid for. */
export interface ServingNames {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

const WILDCARD = new Set(['0.0.0.0', '::', '[::]']);

/**
 * What clients may call this control plane: localhost and the loopback addresses, the host name,
 * the hosts it listens on (every interface address when it listens on a wildcard), and the
 * `--advertise` names and addresses (a load balancer's, a DNS alias).
 */
export function servingNames(
  listenHosts: readonly string[],
  advertise: readonly string[],
  system: { readonly hostname: string; readonly interfaces: ReturnType<typeof networkInterfaces> } = { hostname: hostname(), interfaces: networkInterfaces() },
): ServingNames {
  const dns = new Set(['localhost', system.hostname.toLowerCase()]);
  const ips = new Set(['127.0.0.1', '::1']);
  const add = (name: string) => (isIP(name) ? ips.add(name) : dns.add(name.toLowerCase()));
  for (const host of listenHosts) {
    if (!WILDCARD.has(host)) add(host);
    else for (const a of Object.values(system.interfaces).flat()) if (a) ips.add(a.address.replace(/%.*$/, ''));
  }
  for (const name of advertise) add(name);
  return { dnsNames: [...dns].sort(), ipAddresses: [...ips].sort() };
}

export interface ServingPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/** How long the control plane's own certificate lasts; it is issued again at two thirds of that. */
export const SERVING_LIFETIME_MS = 90 * 86_400_000;

/**
 * The control plane's certificate for the API and the gRPC port, issued by the cluster CA at
 * start with a new key, and issued again before it expires for as long as the process runs (a
 * control plane that is never restarted never serves an expired certificate). Listeners are told
 * each new one; connections made afterwards use it.
 */
export class ServingCertificate {
  private pair: ServingPair;
  private readonly listeners = new Set<(pair: ServingPair) => void>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ca: ClusterCa,
    readonly names: ServingNames,
    private readonly lifetimeMs: number = SERVING_LIFETIME_MS,
  ) {
    this.pair = this.issue();
  }

  get current(): ServingPair {
    return this.pair;
  }

  get notAfter(): Date {
    return new Date(new X509Certificate(this.pair.certPem).validTo);
  }

  /** Calls `listener` with each certificate issued from now on; returns the unsubscribe. */
  onRenewal(listener: (pair: ServingPair) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts re-issuing at two thirds of each certificate's lifetime. */
  start(): void {
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    // setTimeout takes at most 2^31-1 ms (~24.8 days): longer waits go in steps.
    const due = Date.now() + (this.lifetimeMs * 2) / 3;
    const step = () => {
      const left = due - Date.now();
      if (left > 0) {
        this.timer = setTimeout(step, Math.min(left, 2 ** 31 - 1)).unref();
        return;
      }
      this.pair = this.issue();
      for (const l of this.listeners) l(this.pair);
      this.schedule();
    };
    step();
  }

  private issue(): ServingPair {
    const keyPem = newPrivateKey();
    const certPem = issueCertificate(this.ca, {
      publicKey: createPublicKey(createPrivateKey(keyPem)),
      commonName: 'berth control plane',
      uses: ['server'],
      dnsNames: this.names.dnsNames,
      ipAddresses: this.names.ipAddresses,
      lifetimeMs: this.lifetimeMs,
    });
    return { certPem, keyPem };
  }
}
