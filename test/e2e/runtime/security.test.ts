import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, httpGetEventually } from '../../support/net';
import { requireTools } from '../../support/prereq';
import { eventually } from '../support/berth-cli';
import type { TaskJson } from '../support/cluster';
import type { HostGuard } from '../support/host-guard';
import { taskTraces } from '../support/node-traces';
import { captureUpHost, closeAndCheckHost, UpCluster } from '../support/up-cluster';

const ready = requireTools(['etcd', 'runc', 'conmon', 'skopeo', 'umoci', 'busybox', 'ip', 'iptables', 'iptables-save', 'nft', 'unshare', 'nsenter'], { root: true });

/** What the task reports about itself, one line each, before it idles. */
const REPORT = [
  "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\\t ' ' '",
  'echo "uid $(id -u) gid $(id -g)"',
  'touch /etc/x 2>/dev/null && echo etc-written || echo etc-refused',
  'touch /tmp/x && echo tmp-written',
  'echo report-done',
  'exec sleep 3600',
].join('; ');

describe.runIf(ready)('securityContext from manifest to container', () => {
  let cluster: UpCluster;
  let guard: HostGuard;

  /** `berth [global…] apply -f locked.yaml --wait` (global: e.g. `--config` of another token). */
  const apply = async (securityContext: Record<string, unknown> | undefined, global: readonly string[] = []) => {
    const manifest = {
      apiVersion: 'berth/v1',
      kind: 'Service',
      metadata: { name: 'locked' },
      spec: { template: { image: cluster.image, command: ['sh', '-c', REPORT], stopGracePeriod: '1s', ...(securityContext ? { securityContext } : {}) } },
    };
    const path = join(cluster.workDir, 'locked.yaml');
    await writeFile(path, stringify(manifest));
    return cluster.cli.run([...global, 'apply', '-f', path, '--wait']);
  };
  /** The report of the one running task of the service, once it printed all of it. */
  const report = async (): Promise<{ task: TaskJson; lines: string[] }> =>
    eventually('the running task to report', async () => {
      const [task] = cluster.remember(await cluster.cli.running('locked'));
      if (!task) return undefined;
      const r = await cluster.cli.run(['logs', task.metadata.name]);
      const lines = r.stdout.trim().split('\n');
      return lines.at(-1) === 'report-done' ? { task, lines: lines.slice(0, -1) } : undefined;
    });

  beforeAll(async () => {
    guard = captureUpHost();
    cluster = await UpCluster.start('berth-e2e-security-');
  });

  afterAll(() => closeAndCheckHost(cluster, guard));

  it('a default task holds no capability, under seccomp and no-new-privileges, as the image user', async () => {
    const r = await apply(undefined);
    expect(r.code, r.stderr).toBe(0);
    expect((await report()).lines).toEqual(['CapEff: 0000000000000000', 'NoNewPrivs: 1', 'Seccomp: 2', 'uid 0 gid 0', 'etc-written', 'tmp-written']);
  });

  it('a securityContext change rolls out: the new task holds what it adds back, read-only, as its user', async () => {
    const before = (await report()).task.metadata.name;
    const r = await apply({ capabilities: { add: ['NET_BIND_SERVICE'] }, readOnlyRootFilesystem: true, runAsUser: 1000, runAsGroup: 1000 });
    expect(r.code, r.stderr).toBe(0);
    const { task, lines } = await report();
    expect(task.metadata.name).not.toBe(before);
    expect(lines).toEqual(['CapEff: 0000000000000400', 'NoNewPrivs: 1', 'Seccomp: 2', 'uid 1000 gid 1000', 'etc-refused', 'tmp-written']);
    const described = await cluster.cli.run(['describe', 'service', 'locked']);
    expect(described.stdout).toMatch(/^ {2}Capabilities:\s+NET_BIND_SERVICE \(all others dropped\)$/m);
    expect(described.stdout).toMatch(/^ {2}Root Filesystem:\s+read-only; \/tmp a 64Mi tmpfs$/m);
    expect(described.stdout).toMatch(/^ {2}PIDs:\s+4096 \(default\)$/m);
  });

  it('writing the same securityContext out another way is no change', async () => {
    const r = await cluster.cli.run(['diff', '--exit-code', '-f', join(cluster.workDir, 'locked.yaml')]);
    expect(r.code, r.stdout).toBe(0);
    const respelt = await apply({ capabilities: { add: ['cap_net_bind_service'] }, readOnlyRootFilesystem: true, runAsUser: 1000, runAsGroup: 1000, privileged: false });
    expect(respelt.code, respelt.stderr).toBe(0);
    expect(respelt.stdout).toMatch(/unchanged/);
  });

  it("privileged: a deployer's apply is refused with 403 and changes nothing; an admin's runs as root on the node, and describe says so", async () => {
    const created = await cluster.cli.run(['token', 'create', '--role', 'deployer', '--description', 'security e2e']);
    expect(created.code, created.stderr).toBe(0);
    const deployerConfig = join(cluster.workDir, 'deployer.yaml');
    const admin = await readFile(cluster.adminConfigFile, 'utf8');
    await writeFile(deployerConfig, admin.replace(/^token: .*$/m, `token: ${created.stdout.trim()}`), { mode: 0o600 });
    const before = (await cluster.cli.service('locked'))?.metadata.resourceVersion;

    const refused = await apply({ privileged: true }, ['--config', deployerConfig]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/service locked has securityContext\.privileged: true, which needs an admin token \(this token's role is "deployer"\)/);
    expect((await cluster.cli.service('locked'))?.metadata.resourceVersion).toBe(before);

    const r = await apply({ privileged: true }); // the CLI's own config: berth up's admin token
    expect(r.code, r.stderr).toBe(0);
    const { lines } = await report();
    // Every capability the agent holds (berth up runs as this test's root: the same bounding set).
    const held = (await readFile('/proc/self/status', 'utf8')).split('\n').find((l) => l.startsWith('CapBnd:'))!.split(/\s+/)[1]!;
    expect(lines).toEqual([`CapEff: ${held}`, 'NoNewPrivs: 0', 'Seccomp: 0', 'uid 0 gid 0', 'etc-written', 'tmp-written']);
    const described = await cluster.cli.run(['describe', 'service', 'locked']);
    expect(described.stdout).toMatch(/^ {2}Privileged:\s+yes: every capability the node holds, no seccomp filter/m);
    const events = await cluster.cli.run(['events', '-o', 'json']);
    const audit = (JSON.parse(events.stdout) as { items: { kind: string; reason: string; message: string }[] }).items.filter((e) => e.kind === 'audit' && e.message.startsWith('POST /api/v1/apply'));
    expect(audit.map((e) => e.reason)).toEqual(expect.arrayContaining(['Denied', 'Request']));
  });

  it('a service in its own user namespace serves on a published port as an unprivileged host user, and describe says so', async () => {
    const hostPort = await freePort();
    const manifest = {
      apiVersion: 'berth/v1',
      kind: 'Service',
      metadata: { name: 'userns' },
      spec: {
        template: {
          image: cluster.image,
          // Port 80 as root without a capability: root inside is nobody to the host, and the port is the task network's own.
          command: ['sh', '-c', 'mkdir -p /www && echo "served by uid $(id -u)" > /www/index.html && exec httpd -f -p 80 -h /www'],
          ports: [{ containerPort: 80, hostPort }],
          stopGracePeriod: '1s',
          securityContext: { userNamespace: true },
        },
      },
    };
    const path = join(cluster.workDir, 'userns.yaml');
    await writeFile(path, stringify(manifest));
    const r = await cluster.cli.run(['apply', '-f', path, '--wait']);
    expect(r.code, r.stderr).toBe(0);
    cluster.remember(await cluster.cli.running('userns'));
    expect(await httpGetEventually(`http://127.0.0.1:${hostPort}/`)).toBe('served by uid 0\n');
    // On the host the server runs as the node range's first id (0x70000000 by default).
    const uids = await hostUidsOf('httpd -f -p 80 -h /www');
    expect(uids).toEqual([0x7000_0000]);
    const described = await cluster.cli.run(['describe', 'service', 'userns']);
    expect(described.stdout).toMatch(/^ {2}User Namespace:\s+own: ids 0-65535 are the node's unprivileged range on the host/m);
    expect((await cluster.cli.run(['delete', 'service', 'userns'])).code).toBe(0);
    await cluster.cli.tasksGone('userns');
  });

  it('deleting the service leaves nothing of its tasks behind', async () => {
    expect((await cluster.cli.run(['delete', 'service', 'locked'])).code).toBe(0);
    await cluster.cli.tasksGone('locked');
    const traces = () => taskTraces(cluster.scope, [...cluster.seen]);
    await eventually('the node to remove every trace of the tasks', async () => ((await traces()).length === 0 ? true : undefined)).catch(() => undefined);
    expect(await traces()).toEqual([]);
    expect(await cluster.up.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});

/** The real uids of the host's processes whose command line is `cmdline`. */
async function hostUidsOf(cmdline: string): Promise<number[]> {
  const uids: number[] = [];
  for (const pid of (await readdir('/proc')).filter((e) => /^\d+$/.test(e))) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.split('\0').join(' ').trim() !== cmdline) continue;
    const uid = /^Uid:\s+(\d+)/m.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''));
    if (uid) uids.push(Number(uid[1]));
  }
  return uids;
}
