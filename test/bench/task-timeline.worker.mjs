// The hollow-nodes benchmark's clock on etcd, in a thread of its own. It watches the task keys
// and notes when each task was first seen created, placed (nodeName set) and running. On the
// benchmark's main thread, those notes waited behind the hundred agents' work and came late
// (its event loop is busy for seconds at a time); here only the watch runs.
//
// In: workerData { endpoints, prefix, tls: { ca, cert, key } } (the embedded etcd speaks mutual TLS only). Out: { kind: 'watching' } once the watch is up, then
// { kind: 'counts', created, placed, running } every 50 ms; on { kind: 'report' }: { kind:
// 'timeline', tasks: [[id, createdAt, placedAt, runningAt, node], …] } (epoch ms, fractional).
import { parentPort, workerData } from 'node:worker_threads';
import { Etcd3 } from 'etcd3';

const now = () => performance.timeOrigin + performance.now();
const tasks = new Map();
let counts = { created: 0, placed: 0, running: 0 };

const { ca, cert, key } = workerData.tls;
const client = new Etcd3({
  hosts: workerData.endpoints,
  credentials: { rootCertificate: Buffer.from(ca), certChain: Buffer.from(cert), privateKey: Buffer.from(key) },
  // Its certificate names localhost too: no IP address as TLS server name (Node's DEP0123 warning).
  grpcOptions: { 'grpc.ssl_target_name_override': 'localhost' },
});
const watcher = await client.watch().prefix(workerData.prefix).create();
watcher.on('data', (res) => {
  const at = now();
  for (const ev of res.events) {
    if (ev.type !== 'Put') continue;
    const key = ev.kv.key.toString();
    const id = key.slice(key.lastIndexOf('/') + 1);
    const task = JSON.parse(ev.kv.value.toString());
    let t = tasks.get(id);
    if (!t) {
      t = [id, at, undefined, undefined, undefined];
      tasks.set(id, t);
      counts.created++;
    }
    if (task.nodeName && t[2] === undefined) {
      t[2] = at;
      t[4] = task.nodeName;
      counts.placed++;
    }
    if (task.status?.state === 'running' && t[3] === undefined) {
      t[3] = at;
      counts.running++;
    }
  }
});
parentPort.postMessage({ kind: 'watching' });
const ticker = setInterval(() => parentPort.postMessage({ kind: 'counts', ...counts }), 50);

parentPort.on('message', async (msg) => {
  if (msg.kind !== 'report') return;
  clearInterval(ticker);
  await watcher.cancel();
  client.close();
  parentPort.postMessage({ kind: 'timeline', tasks: [...tasks.values()] });
  parentPort.close();
});
