import { Command } from '@commander-js/extra-typings';
import type { CliContext } from '../context';
import { UsageError } from '../errors';
import { collectRegistry } from '../input/agent-args';
import { parseEtcdEndpoints, parseHostPort, parseMaxTxnOps } from '../input/args';
import { ADVERTISE_HELP, collectAdvertise, DEFAULT_API, DEFAULT_GRPC, defaultDataDir, serveInForeground, NODE_DOWN_AFTER_HELP, parseNodeCertLifetime, parseNodeDownAfter } from './serve';

export function serverCommand(ctx: CliContext) {
  return new Command('server')
    .description('run the control plane in the foreground (HTTP API, agent endpoint, etcd)')
    .option('--data-dir <dir>', `state directory (default: ${defaultDataDir(ctx.env)})`)
    .option('--api <host:port>', 'listen address of the HTTP API (default: 127.0.0.1:7070)', (v) => parseHostPort(v, '--api'))
    .option('--grpc <host:port>', 'listen address for node agents (default: 127.0.0.1:7071)', (v) => parseHostPort(v, '--grpc'))
    .option('--node-down-after <duration>', NODE_DOWN_AFTER_HELP, parseNodeDownAfter)
    .option('--etcd <urls>', 'use these etcd members (comma-separated URLs) instead of an embedded etcd', parseEtcdEndpoints)
    .option('--etcd-max-txn-ops <n>', "the --max-txn-ops those members run with (default: etcd's 128); larger batches place faster", parseMaxTxnOps)
    .option('--etcd-ca <file>', "CA certificate (PEM) that signed those members' certificates")
    .option('--etcd-cert <file>', 'client certificate (PEM) berth presents to them')
    .option('--etcd-key <file>', 'its private key (PEM)')
    .option(
      '--insecure-registry <host:port>',
      'reach this registry over plain HTTP when apply pins image digests (repeatable; loopback registries always are)',
      collectRegistry,
    )
    .option('--advertise <name|ip>', ADVERTISE_HELP, collectAdvertise)
    .option('--node-cert-lifetime <duration>', 'how long node certificates last; agents renew theirs at 50-80 % of it (default: 2160h, 90 days)', parseNodeCertLifetime)
    .addHelpText(
      'after',
      `
Without --etcd an etcd is started as a child process with its data in DATA-DIR/etcd and stopped
with the server. It listens on loopback and speaks mutual TLS only: its certificates come from the
cluster CA in DATA-DIR/pki (made on first start); the line it prints names the client certificate
to use with etcdctl. An external etcd that wants client certificates takes --etcd-ca, --etcd-cert
and --etcd-key (all three). DATA-DIR/admin.yaml (0600) holds the API's URL, the cluster CA and an admin
token; the same goes to ~/.berth/config (or --config/BERTH_CONFIG), so berth commands on this
machine find the server. SIGINT/SIGTERM stop it cleanly; a second signal exits at once.
The agent port speaks mutual TLS only: the cluster CA (DATA-DIR/pki/ca.pem and ca.key, made on
first start, its certificate also in etcd) signs this server's certificate (valid for localhost,
the host name, the listen addresses and every --advertise) and the nodes' certificates. A node
joins once with a token (berth token create --role join; berth agent --token …). A second
control-plane replica of the same cluster needs ca.pem and ca.key copied into its DATA-DIR/pki.
apply pins each service's image to the digest its tag names then (skopeo inspect from this host):
give --insecure-registry for plain-HTTP registries off loopback, as the agents do.

Examples:
  berth server
  berth server --api 0.0.0.0:7070 --etcd http://10.0.0.1:2379,http://10.0.0.2:2379
  berth server --etcd http://10.0.0.1:2379 --etcd-max-txn-ops 1024
  berth server --etcd https://10.0.0.1:2379 --etcd-ca ca.pem --etcd-cert berth.pem --etcd-key berth.key`,
    )
    .action(async (opts) => {
      const tlsFlags = [opts.etcdCa, opts.etcdCert, opts.etcdKey].filter((f) => f !== undefined).length;
      if (tlsFlags > 0 && tlsFlags < 3) throw new UsageError('--etcd-ca, --etcd-cert and --etcd-key go together: give all three');
      if (tlsFlags > 0 && !opts.etcd) throw new UsageError('--etcd-ca, --etcd-cert and --etcd-key need --etcd (the embedded etcd makes its own certificates)');
      await serveInForeground(ctx, {
        dataDir: opts.dataDir ?? defaultDataDir(ctx.env),
        api: opts.api ?? DEFAULT_API,
        grpc: opts.grpc ?? DEFAULT_GRPC,
        ...(opts.nodeDownAfter !== undefined ? { nodeDownAfterMs: opts.nodeDownAfter } : {}),
        ...(opts.etcd ? { etcdEndpoints: opts.etcd } : {}),
        ...(opts.etcdMaxTxnOps !== undefined ? { etcdMaxTxnOps: opts.etcdMaxTxnOps } : {}),
        ...(opts.etcdCa && opts.etcdCert && opts.etcdKey ? { etcdTlsFiles: { ca: opts.etcdCa, cert: opts.etcdCert, key: opts.etcdKey } } : {}),
        ...(opts.insecureRegistry ? { insecureRegistries: opts.insecureRegistry } : {}),
        ...(opts.advertise ? { advertise: opts.advertise } : {}),
        ...(opts.nodeCertLifetime !== undefined ? { nodeCertificateLifetimeMs: opts.nodeCertLifetime } : {}),
      });
    });
}
