import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Child processes a test started; killed by PID in afterAll. */
export class Processes {
  private readonly children: ChildProcess[] = [];

  /** Starts `busybox httpd` inside the namespace, serving `dir` on port 8080. */
  httpdIn(netnsPath: string, dir: string): ChildProcess {
    return this.start('nsenter', [`--net=${netnsPath}`, 'busybox', 'httpd', '-f', '-p', '8080', '-h', dir]);
  }

  /**
   * A host process (not this one) listening on 0.0.0.0:`port`; resolves once it listens, i.e.
   * once it printed "listening".
   */
  async listenerOnHost(port: number): Promise<ChildProcess> {
    const script = `require('net').createServer().listen(${port}, '0.0.0.0', () => console.log('listening'))`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`listener on port ${port} exited with ${code}`)));
    });
    return child;
  }

  /**
   * A server inside the namespace on 0.0.0.0:`port` answering any HTTP request with the address
   * the connection came from; resolves once it listens.
   */
  async peerAddressServerIn(netnsPath: string, port: number): Promise<ChildProcess> {
    const script = `require('net').createServer((s) => s.once('data', () => s.end('HTTP/1.0 200 OK\\r\\n\\r\\n' + s.remoteAddress)))`
      + `.listen(${port}, '0.0.0.0', () => console.log('listening'))`;
    const child = spawn('nsenter', [`--net=${netnsPath}`, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`peer address server in ${netnsPath} exited with ${code}`)));
    });
    return child;
  }

  start(file: string, args: string[]): ChildProcess {
    const child = spawn(file, args, { stdio: 'ignore' });
    this.children.push(child);
    return child;
  }

  async killAll(): Promise<void> {
    await Promise.all(this.children.map((c) => stop(c)));
    this.children.length = 0;
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGKILL');
  await exited;
}

/** Body of `GET /` over a plain TCP connection (HTTP/1.0: the server closes when done). */
export function httpGet(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer from ${host}:${port}`)));
    socket.on('connect', () => socket.write('GET / HTTP/1.0\r\n\r\n'));
    socket.on('data', (b: Buffer) => chunks.push(b));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString();
      resolve(text.slice(text.indexOf('\r\n\r\n') + 4).trim());
    });
  });
}

/** Retries `httpGet` until the server inside a fresh namespace has started listening. */
export async function waitForHttp(host: string, port: number): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await httpGet(host, port);
    } catch (e) {
      if (attempt >= 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** One ICMP echo from the host, or from inside a namespace when `fromNetns` is given. */
export async function ping(ip: string, fromNetns?: string): Promise<void> {
  const args = ['busybox', 'ping', '-c', '1', '-W', '3', ip];
  if (fromNetns) await run('nsenter', [`--net=${fromNetns}`, ...args]);
  else await run(args[0] as string, args.slice(1));
}

/** `GET /` issued from inside a namespace with busybox nc. */
export async function httpGetFrom(netnsPath: string, ip: string, port: number): Promise<string> {
  const { stdout } = await run('sh', ['-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nsenter --net=${netnsPath} busybox nc -w 5 ${ip} ${port}`]);
  return stdout.slice(stdout.indexOf('\r\n\r\n') + 4).trim();
}
