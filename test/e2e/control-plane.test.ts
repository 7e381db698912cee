import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { apiFetch, readAdminConfig, type ApiAccess } from '../support/api';
import { requireTools } from '../support/prereq';
import { BERTH_BIN, REPO, eventually, freePort, isAlive, killIfAlive, runBerth, type RunResult } from './support/berth-cli';
import { BerthServerProcess } from './support/berth-server';

const canRun = requireTools(['etcd', 'etcdctl']);
const run = promisify(execFile);

interface ServiceJson {
  metadata: { name: string; resourceVersion: string; generation: number };
  spec: { replicas: number; restartPolicy: { condition: string }; template: { image: string } };
  status: { desired: number; running: number };
}

describe.runIf(canRun)('berth CLI against a real control plane and etcd', () => {
  let root: string;
  let home: string;
  let work: string;
  let server: BerthServerProcess;
  let etcdPid: number | undefined;
  let env: Record<string, string>;

  const berth = (args: string[], stdin?: string): Promise<RunResult> => runBerth(args, { env, ...(stdin === undefined ? {} : { stdin }) });
  /**
   * `berth apply` of examples/web.yaml with its pin warning taken out: the manifest names the
   * example registry on 127.0.0.1:5000, which this suite does not start (pinning: images.test.ts).
   */
  const apply = async (args: string[]): Promise<RunResult> => {
    const r = await berth(['apply', ...args]);
    return { ...r, stderr: r.stderr.replace(/^warning: web: could not resolve 127\.0\.0\.1:5000\/busybox:1 to a digest \(.*\); every node pulls the tag itself, so nodes may run different images\n/m, '') };
  };
  const services = async (): Promise<ServiceJson[]> => {
    const r = await berth(['get', 'services', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as ServiceJson[];
  };
  const web = async (): Promise<ServiceJson> => {
    const r = await berth(['get', 'svc', 'web', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as ServiceJson;
  };
  /** Keys and mod revisions under the services prefix: any write there changes this. */
  const storedServices = async (): Promise<string> => {
    const { stdout } = await run('etcdctl', [...server.etcdctlFlags(), 'get', '/berth/v1/services/', '--prefix', '-w', 'json']);
    const kvs = (JSON.parse(stdout) as { kvs?: { key: string; mod_revision: number }[] }).kvs ?? [];
    return kvs.map((kv) => `${Buffer.from(kv.key, 'base64').toString()}@${kv.mod_revision}`).join('\n');
  };
  /**
   * A copy of the server's admin.yaml under the work dir, with `change` applied, written with `mode`
   * (what a user does to get a config for another token or server).
   */
  const configCopy = async (name: string, change: Partial<ApiAccess>, mode = 0o600): Promise<string> => {
    const path = join(work, name);
    await writeFile(path, stringifyYaml({ ...(await readAdminConfig(server.adminConfigFile)), ...change }), { mode });
    await chmod(path, mode); // whatever the umask took away
    return path;
  };
  const writeManifest = async (name: string, text: string): Promise<string> => {
    const path = join(work, name);
    await writeFile(path, text);
    return path;
  };

  beforeAll(async () => {
    if (!existsSync(BERTH_BIN)) throw new Error(`${BERTH_BIN} is missing: build first (npx tsc -b tsconfig.build.json)`);
    root = await mkdtemp(join(tmpdir(), 'berth-e2e-cp-'));
    home = join(root, 'home');
    work = join(root, 'work');
    await mkdir(home);
    await mkdir(work);
    const [apiPort, grpcPort] = [await freePort(), await freePort()];
    server = BerthServerProcess.start({ home, dataDir: join(root, 'data'), apiPort, grpcPort });
    await server.ready();
    etcdPid = server.children().find((c) => c.comm === 'etcd')?.pid;
    // The CLI finds the server, the CA and the admin token in HOME/.berth/config, which the server wrote.
    env = { HOME: home };
  });

  afterAll(async () => {
    server?.kill();
    killIfAlive(etcdPid);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('prints where it listens (https) and writes admin.yaml and the client config (0600) that later commands use', async () => {
    expect(server.apiUrl).toMatch(/^https:\/\//);
    expect(server.stderr()).toContain(`berth: API on ${server.apiUrl}`);
    expect(server.stderr()).toMatch(/berth: agents on 127\.0\.0\.1:\d+/);
    expect(etcdPid, 'embedded etcd is a child of berth server').toBeDefined();
    const ca = await readFile(server.caFile, 'utf8');
    const admin = parseYaml(await readFile(server.adminConfigFile, 'utf8')) as Record<string, unknown>;
    expect(admin).toEqual({ server: server.apiUrl, ca: expect.any(String), token: expect.stringMatching(/^BERTHA1-[a-z0-9]+\.[a-z0-9]+$/) });
    expect((admin.ca as string).trim()).toBe(ca.trim());
    expect((await stat(server.adminConfigFile)).mode & 0o777).toBe(0o600);
    const configPath = join(home, '.berth', 'config');
    const config = parseYaml(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    expect(config).toEqual({ server: server.apiUrl, ca: expect.any(String), token: expect.stringMatching(/^BERTHA1-[a-z0-9]+\.[a-z0-9]+$/) });
    expect((config.ca as string).trim()).toBe(ca.trim());
    expect((await stat(configPath)).mode & 0o777).toBe(0o600);
    expect(existsSync(join(home, '.berth', 'config.json')), 'the old JSON config').toBe(false);
    const r = await runBerth(['get', 'services'], { env: { HOME: home } });
    expect(r).toEqual({ code: 0, stdout: '', stderr: 'No services found.\n' });
  });

  it('refuses the admin token only where it is wrong: a made-up token is refused naming the config file, the real one works', async () => {
    const before = await storedServices();
    // Well-formed, but no cluster issued it.
    const bogus = await configCopy('bogus-token.yaml', { token: `BERTHA1-aaaaaaaaaaaa.${'a'.repeat(32)}` });
    const refused = await runBerth(['get', 'services'], { env: { HOME: home, BERTH_CONFIG: bogus } });
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/token/i);
    expect(refused.stderr).toMatch(/refused|rejected/i);
    expect(refused.stderr).toContain(bogus);
    const applyRefused = await runBerth(['apply', '-f', join(REPO, 'examples/web.yaml')], { env: { HOME: home, BERTH_CONFIG: bogus } });
    expect(applyRefused.code, applyRefused.stderr).toBe(1);
    expect(await storedServices()).toBe(before);

    const real = await configCopy('real-token.yaml', {});
    expect(await runBerth(['get', 'services'], { env: { HOME: home, BERTH_CONFIG: real } })).toEqual({ code: 0, stdout: '', stderr: 'No services found.\n' });
    // --config comes before BERTH_CONFIG.
    expect(await runBerth(['--config', real, 'get', 'services'], { env: { HOME: home, BERTH_CONFIG: bogus } })).toEqual({ code: 0, stdout: '', stderr: 'No services found.\n' });
  });

  it('refuses a config file others can read (it holds a token), saying to chmod it', async () => {
    const open = await configCopy('readable.yaml', {}, 0o644);
    expect((await stat(open)).mode & 0o777).toBe(0o644);
    const r = await runBerth(['get', 'services'], { env: { HOME: home, BERTH_CONFIG: open } });
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(open);
    expect(r.stderr).toContain('chmod');
  });

  it('applies examples/web.yaml and shows it with defaults and status', async () => {
    const r = await apply(['-f', join(REPO, 'examples/web.yaml')]);
    expect(r).toEqual({ code: 0, stdout: 'service/web created\n', stderr: '' });
    const list = await services();
    expect(list).toHaveLength(1);
    const svc = list[0]!;
    expect(svc.metadata.name).toBe('web');
    expect(svc.metadata.resourceVersion).toMatch(/^\d+$/);
    expect(svc.metadata.generation).toBe(1);
    expect(svc.spec.restartPolicy.condition).toBe('any');
    // Status is the leader's to write; it follows the apply.
    const status = await eventually('status of web', async () => ((await web()).status.desired === 3 ? (await web()).status : undefined));
    expect(status).toMatchObject({ desired: 3, running: 0 });
  });

  it('re-applying the same manifest changes nothing', async () => {
    const before = await web();
    const r = await apply(['-f', join(REPO, 'examples/web.yaml')]);
    expect(r).toEqual({ code: 0, stdout: 'service/web unchanged\n', stderr: '' });
    expect((await web()).metadata).toEqual(before.metadata);
    const diff = await berth(['diff', '--exit-code', '-f', join(REPO, 'examples/web.yaml')]);
    expect(diff).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('diff shows an edited replicas line; --dry-run stores nothing; apply configures it', async () => {
    const original = await readFile(join(REPO, 'examples/web.yaml'), 'utf8');
    expect(original).toMatch(/replicas: 3\b/);
    const edited = await writeManifest('web-4.yaml', original.replace(/replicas: 3\b/, 'replicas: 4'));

    const diff = await berth(['diff', '-f', edited]);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).toMatch(/^--- web \(live\)\n\+\+\+ web \(manifest\)\n/);
    expect(diff.stdout).toMatch(/^-\s*replicas: 3$/m);
    expect(diff.stdout).toMatch(/^\+\s*replicas: 4$/m);
    expect((await berth(['diff', '--exit-code', '-f', edited])).code).toBe(1);

    const before = await web();
    const dry = await apply(['--dry-run', '-f', edited]);
    expect(dry).toEqual({ code: 0, stdout: 'service/web configured (dry run)\n', stderr: '' });
    expect((await web()).metadata).toEqual(before.metadata);
    expect((await web()).spec.replicas).toBe(3);

    const applied = await berth(['apply', '-f', edited, '-o', 'json']);
    expect(applied.code, applied.stderr).toBe(0);
    const items = JSON.parse(applied.stdout) as { name: string; action: string; service: ServiceJson }[];
    expect(items.map((i) => [i.name, i.action])).toEqual([['web', 'configured']]);
    const after = await web();
    expect(after.metadata.generation).toBe(2);
    expect(after.spec.replicas).toBe(4);
    expect(after.metadata.resourceVersion).not.toBe(before.metadata.resourceVersion);
  });

  it('scale sets the replicas', async () => {
    expect(await berth(['scale', 'web=5'])).toEqual({ code: 0, stdout: 'service/web scaled to 5\n', stderr: '' });
    expect((await web()).spec.replicas).toBe(5);
    const table = await eventually('the table to show 0/5', async () => {
      const r = await berth(['get', 'services']);
      return /^web\s+replicated\s+0\/5\s+127\.0\.0\.1:5000\/busybox:1\s+\S+$/m.test(r.stdout) ? r.stdout : undefined;
    });
    expect(table.split('\n')[0]).toMatch(/^NAME\s+MODE\s+REPLICAS\s+IMAGE\s+AGE$/);
    const wide = await berth(['get', 'services', '-o', 'wide']);
    expect(wide.stdout.split('\n')[0]).toMatch(/^NAME\s+MODE\s+REPLICAS\s+IMAGE\s+AGE\s+GENERATION\s+RESOURCE-VERSION\s+PORTS\s+RUNTIME$/);
    const yaml = await berth(['get', 'services', '-o', 'yaml']);
    expect((parseYaml(yaml.stdout) as ServiceJson[]).map((s) => s.spec.replicas)).toEqual([5]);
    expect(await berth(['scale', 'web=10001'])).toMatchObject({ code: 2 });
    expect((await web()).spec.replicas).toBe(5);
  });

  it('describe shows settings with their defaults', async () => {
    const r = await berth(['describe', 'service', 'web']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Name:\s+web$/m);
    expect(r.stdout).toMatch(/^\s+Image:\s+127\.0\.0\.1:5000\/busybox:1$/m);
    expect(r.stdout).toMatch(/^Restart Policy:\n\s+Condition:\s+any$/m);
    expect(r.stdout).toMatch(/^Replicas:\s+5 desired \| 0 running/m);
  });

  it('lists no nodes and no tasks yet, and explains unknown kinds', async () => {
    expect(await berth(['get', 'nodes'])).toEqual({ code: 0, stdout: '', stderr: 'No nodes found.\n' });
    expect(await berth(['get', 'no', '-o', 'json'])).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
    expect((await berth(['get', 'tasks', '--service', 'web'])).code).toBe(0);
    expect(await berth(['get', 'pods'])).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown resource type "pods"') });
  });

  it('refuses a multi-document file with one bad document and stores none of it', async () => {
    const before = await storedServices();
    const path = await writeManifest(
      'two.yaml',
      [
        'apiVersion: berth/v1',
        'kind: Service',
        'metadata: { name: api }',
        'spec:',
        '  template: { image: "127.0.0.1:5000/busybox:1" }',
        '---',
        'apiVersion: berth/v1',
        'kind: Service',
        'metadata: { name: worker }',
        'spec:',
        '  replicas: three',
        '  template: { image: "127.0.0.1:5000/busybox:1" }',
        '',
      ].join('\n'),
    );
    const r = await berth(['apply', '-f', path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${path}:11:13: spec.replicas`);
    expect(await storedServices()).toBe(before);
    expect((await services()).map((s) => s.metadata.name)).toEqual(['web']);
  });

  it('the server validates again: a bad document sent past the CLI is refused with its position', async () => {
    const before = await storedServices();
    const text = 'apiVersion: berth/v1\nkind: Service\nmetadata: { name: api }\nspec:\n  replicas: -1\n  template: { image: "127.0.0.1:5000/busybox:1" }\n';
    const res = await apiFetch(await server.access(), '/api/v1/apply', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sources: [{ file: 'api.yaml', text }] }),
    });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const problem = await res.json<{ code: string; issues: { file: string; line: number; path: string }[] }>();
    expect(problem.code).toBe('INVALID');
    expect(problem.issues).toContainEqual(expect.objectContaining({ file: 'api.yaml', line: 5, path: 'spec.replicas' }));
    expect(await storedServices()).toBe(before);
  });

  describe('bad manifests: exit 2, every issue at file:line:col, nothing written', () => {
    const base = (over: Record<string, string> = {}): string =>
      [
        `apiVersion: ${over.apiVersion ?? 'berth/v1'}`,
        `kind: ${over.kind ?? 'Service'}`,
        'metadata:',
        `  name: ${over.name ?? 'bad'}`,
        'spec:',
        over.replicasLine ?? '  replicas: 1',
        '  template:',
        '    image: 127.0.0.1:5000/busybox:1',
        '    resources:',
        `      memory: ${over.memory ?? '32Mi'}`,
        '',
      ].join('\n');
    const cases: { name: string; text: string; where: string; field: RegExp }[] = [
      { name: 'unknown field', text: base({ replicasLine: '  replica: 1' }), where: ':6:3:', field: /spec\.replica\b.*"replicas"/ },
      { name: 'duplicate key', text: base({ replicasLine: '  replicas: 1\n  replicas: 2' }), where: ':7:3:', field: /spec\.replicas .*(twice|duplicate|unique)/i },
      { name: 'memory in MB', text: base({ memory: '64MB' }), where: ':10:15:', field: /spec\.template\.resources\.memory .*64MB.*Mi/ },
      { name: 'negative replicas', text: base({ replicasLine: '  replicas: -1' }), where: ':6:13:', field: /spec\.replicas .*-1/ },
      { name: 'bad name', text: base({ name: 'Web_1' }), where: ':4:9:', field: /metadata\.name .*Web_1/ },
      { name: 'wrong kind', text: base({ kind: 'Deployment' }), where: ':2:7:', field: /kind .*Deployment/ },
      { name: 'wrong apiVersion', text: base({ apiVersion: 'v1' }), where: ':1:13:', field: /apiVersion .*v1/ },
      { name: 'not a mapping', text: '- just\n- a list\n', where: ':1:1:', field: /mapping/i },
      { name: 'YAML syntax error', text: 'apiVersion: berth/v1\nkind: [Service\n', where: ':', field: /YAML/ },
      { name: 'empty file', text: '# nothing here\n', where: ':1:1:', field: /no documents/i },
    ];

    let before: string;
    let servicesBefore: string;
    beforeAll(async () => {
      before = await storedServices();
      servicesBefore = (await berth(['get', 'services', '-o', 'json'])).stdout;
    });

    it.each(cases)('$name', async ({ name, text, where, field }) => {
      const path = await writeManifest(`${name.replace(/\W+/g, '-')}.yaml`, text);
      const r = await berth(['apply', '-f', path]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      const line = r.stderr.split('\n').find((l) => l.startsWith(`${path}${where}`));
      expect(line, r.stderr).toBeDefined();
      expect(line!.startsWith(`${path}:`) && /^\S+:\d+:\d+: /.test(line!), r.stderr).toBe(true);
      expect(line).toMatch(field);
    });

    it('from stdin, issues are reported against <stdin>', async () => {
      const r = await berth(['apply', '-f', '-'], base({ replicasLine: '  replicas: -1' }));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('<stdin>:6:13: spec.replicas');
    });

    it('nothing was written by any of them', async () => {
      expect(await storedServices()).toBe(before);
      expect((await berth(['get', 'services', '-o', 'json'])).stdout).toBe(servicesBefore);
    });
  });

  it('a stale metadata.resourceVersion is refused as a conflict', async () => {
    const current = await web();
    const stale = String(Number(current.metadata.resourceVersion) - 1);
    const original = await readFile(join(REPO, 'examples/web.yaml'), 'utf8');
    const withVersion = original.replace(/^(\s*)name: web$/m, `$1name: web\n$1resourceVersion: "${stale}"`);
    expect(withVersion).toContain(`resourceVersion: "${stale}"`);
    const path = await writeManifest('stale.yaml', withVersion.replace(/replicas: 3\b/, 'replicas: 2'));
    const r = await berth(['apply', '-f', path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*(conflict|changed|modified|resourceVersion)/im);
    expect(await web()).toEqual(current);
  });

  it('delete removes the service; deleting again is "not found"', async () => {
    expect(await berth(['delete', 'service', 'web'])).toEqual({ code: 0, stdout: 'service/web deleted\n', stderr: '' });
    expect(await berth(['get', 'services'])).toEqual({ code: 0, stdout: '', stderr: 'No services found.\n' });
    const again = await berth(['delete', 'service', 'web']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: .*not found/m);
    expect(await berth(['delete', 'service', 'web', '--ignore-not-found'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await berth(['get', 'svc', 'web'])).code).toBe(1);
  });

  it('delete -f removes every service named in the manifests', async () => {
    expect((await berth(['apply', '-f', join(REPO, 'examples/web.yaml')])).code).toBe(0);
    expect(await berth(['delete', '-f', join(REPO, 'examples/web.yaml')])).toEqual({ code: 0, stdout: 'service/web deleted\n', stderr: '' });
    expect(await services()).toEqual([]);
  });

  it('says when the control plane cannot be reached', async () => {
    const port = await freePort();
    const elsewhere = await configCopy('nothing-there.yaml', { server: `https://127.0.0.1:${port}` });
    const r = await runBerth(['get', 'services'], { env: { HOME: home, BERTH_CONFIG: elsewhere } });
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: cannot reach the berth control plane at https://127.0.0.1:${port} (is "berth up" running?)\n`,
    });
  });

  it('SIGTERM stops the server with exit 0 and takes its etcd along', async () => {
    const ended = await server.stop('SIGTERM');
    expect(ended).toEqual({ code: 0, signal: null });
    expect(etcdPid).toBeDefined();
    expect(isAlive(etcdPid!)).toBe(false);
    const r = await berth(['get', 'services']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot reach the berth control plane');
  });
});
