import { describe, expect, it } from 'vitest';
import { describeNode, describeService, describeTask, shellWords } from './describe';
import { renderList, serviceLayout } from './lists';
import { NOW, checkedTask, node1, runningTask, stoppingTask, webService } from './__fixtures__/views';

describe('describeService', () => {
  const text = describeService(webService, [checkedTask, stoppingTask, runningTask], NOW);

  it('shows metadata, status and the template with defaults', () => {
    expect(text).toMatch(/^Name:\s+web$/m);
    expect(text).toMatch(/^Labels:\s+app=web\n\s+tier=frontend$/m);
    expect(text).toMatch(/^Created:\s+2026-03-01T11:55:00Z \(5m ago\)$/m);
    expect(text).toMatch(/^Replicas:\s+3 desired \| 1 running \| 1 updated$/m);
    expect(text).toMatch(/^ {2}Command:\s+httpd -f -p 8080$/m);
    expect(text).toMatch(/^ {2}Env:\s+GREETING=hello world$/m);
    expect(text).toMatch(/^ {2}CPU:\s+250m$/m);
    expect(text).toMatch(/^ {2}PIDs:\s+4096 \(default\)$/m);
    expect(text).toMatch(/^ {2}Ports:\s+18080:8080\/tcp\n\s+53\/udp$/m);
    expect(text).toMatch(/^ {2}Health Check:\s+<none>$/m);
    expect(text).toMatch(/^ {2}Volumes:\s+data → \/data$/m);
    expect(text).toMatch(/^Restart Policy:\n {2}Condition:\s+any\n {2}Delay:\s+1s$/m);
    expect(text).toMatch(/^ {2}Max Attempts:\s+0 \(unlimited\)$/m);
    expect(text).toMatch(/^ {2}Constraints:\s+node\.labels\.zone == a$/m);
  });

  it('shows the security defaults of a container task, and what its securityContext changes', () => {
    expect(text).toMatch(/^Security:\n {2}Capabilities:\s+none \(all dropped, default\)\n {2}Root Filesystem:\s+writable \(default\)\n {2}User:\s+the image's USER, group the image's\n {2}Seccomp:\s+default profile/m);
    const securityContext = { capabilities: { add: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'] }, readOnlyRootFilesystem: true, runAsUser: 1000 };
    const hardened = describeService({ ...webService, spec: { ...webService.spec, template: { ...webService.spec.template, securityContext } } }, [], NOW);
    expect(hardened).toMatch(/^ {2}Capabilities:\s+NET_BIND_SERVICE, NET_RAW \(all others dropped\)$/m);
    expect(hardened).toMatch(/^ {2}Root Filesystem:\s+read-only; \/tmp a 64Mi tmpfs$/m);
    expect(hardened).toMatch(/^ {2}User:\s+1000, group the user's in the image, else 0$/m);
    expect(text).toMatch(/^ {2}User Namespace:\s+none \(the host's ids, default\)$/m);
    const userns = describeService({ ...webService, spec: { ...webService.spec, template: { ...webService.spec.template, securityContext: { userNamespace: true } } } }, [], NOW);
    expect(userns).toMatch(/^ {2}User Namespace:\s+own: ids 0-65535 are the node's unprivileged range on the host \(root inside is nobody outside\)$/m);
    const vm = describeService({ ...webService, spec: { ...webService.spec, template: { ...webService.spec.template, runtime: 'vm', vm: { vcpus: 1 } } } }, [], NOW);
    expect(vm).not.toMatch(/^Security:/m);
    expect(vm).toMatch(/^ {2}PIDs:\s+<unlimited>$/m);
  });

  it('shows the kind of health check and its timing', () => {
    const withCheck = (healthCheck: NonNullable<typeof webService.spec.template.healthCheck>) =>
      describeService({ ...webService, spec: { ...webService.spec, template: { ...webService.spec.template, healthCheck } } }, [], NOW);
    const timing = { interval: '5s', timeout: '1s', retries: 3, startPeriod: '0s' };
    expect(withCheck({ http: { port: 8080, path: '/healthz' }, ...timing })).toMatch(/^ {2}Health Check:\s+http GET :8080\/healthz interval=5s timeout=1s retries=3 start-period=0s$/m);
    expect(withCheck({ tcp: { port: 6379 }, ...timing })).toMatch(/^ {2}Health Check:\s+tcp :6379 interval=5s/m);
    expect(withCheck({ exec: ['wget', '-qO-', 'http://127.0.0.1:8080/'], ...timing })).toMatch(/^ {2}Health Check:\s+exec wget -qO- http:\/\/127\.0\.0\.1:8080\/ interval=5s/m);
  });

  it('shows the placement, spreadBy only as set', () => {
    expect(text).toMatch(/^Placement:\n {2}Strategy:\s+spread\n {2}Max Per Node:\s+0 \(unlimited\)\n {2}Spread By:\s+<none>$/m);
    const spread = { ...webService, spec: { ...webService.spec, placement: { ...webService.spec.placement, spreadBy: 'node.labels.zone' } } };
    expect(describeService(spread, [], NOW)).toMatch(/^ {2}Spread By:\s+node\.labels\.zone$/m);
  });

  it('shows the revision, its rollout and the update and rollback settings', () => {
    expect(text).toMatch(/^Revision:\s+2$/m);
    expect(text).toMatch(
      /^Rollout:\n {2}Revision:\s+2 \(previous: 1\)\n {2}State:\s+paused\n {2}Updated:\s+1\/3\n {2}Failed:\s+1\n {2}Reason:\s+web\.2\.k3x failed \(exited with code 3\) within monitor$/m,
    );
    expect(text).toMatch(/^ {2}Started:\s+2026-03-01T11:59:00Z \(60s ago\)\n {2}Last Change:\s+2026-03-01T11:59:30Z \(30s ago\)\n {2}Completed:\s+-$/m);
    expect(text).toMatch(/^Update:\n {2}Parallelism:\s+1\n {2}Delay:\s+0s\n {2}Monitor:\s+5s\n {2}Max Failure Ratio:\s+0\n {2}Failure Action:\s+pause$/m);
    expect(text).toMatch(/^Rollback:\n {2}Parallelism:\s+0 \(all at once\)\n.*\n.*\n {2}Max Failure Ratio:\s+0\.5$/m);
  });

  it('says when the leader has not started a rollout, or not the current revision yet', () => {
    const none = describeService({ ...webService, status: { desired: 3, running: 0, updated: 0 } }, [], NOW);
    expect(none).toMatch(/^Rollout:\s+<not started yet>$/m);
    const behind = describeService({ ...webService, metadata: { ...webService.metadata, revision: 3 } }, [], NOW);
    expect(behind).toMatch(/^ {2}Revision:\s+2 \(previous: 1\) \(revision 3 not started yet\)$/m);
    const rollback = { ...webService.status.rollout!, revision: 3, state: 'rolling-back' as const, previousRevision: 2, rollbackOf: 2 };
    const back = describeService({ ...webService, metadata: { ...webService.metadata, revision: 3 }, status: { ...webService.status, rollout: rollback } }, [], NOW);
    expect(back).toMatch(/^ {2}Revision:\s+3 \(rollback of revision 2\)\n {2}State:\s+rolling-back$/m);
  });

  it('shows the image as written and the digest it is pinned to, or why it is not', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const pinned = describeService({ ...webService, status: { ...webService.status, imageDigest: digest } }, [], NOW);
    expect(pinned).toMatch(new RegExp(`^ {2}Image:\\s+${webService.spec.template.image!.replace(/[.]/g, '\\.')}\n {2}Digest:\\s+${digest} \\(pinned at apply\\)$`, 'm'));
    expect(text).toMatch(/^ {2}Digest:\s+not pinned \(could not resolve at apply\)$/m);
    const always = { ...webService, spec: { ...webService.spec, template: { ...webService.spec.template, imagePull: 'always' as const } } };
    expect(describeService(always, [], NOW)).toMatch(/^ {2}Digest:\s+not pinned \(imagePull: always\)$/m);
  });

  it('shows a disk VM by its disk, kernel and cmdline: no image, nothing pinned, the disk\'s own init', () => {
    const { image: _none, ...rest } = webService.spec.template;
    const template = { ...rest, runtime: 'vm' as const, vm: { vcpus: 1, kernel: '/boot/vmlinuz-6.1.0-57-amd64', disk: '/img/debian-12.qcow2', cmdline: 'quiet' } };
    const out = describeService({ ...webService, spec: { ...webService.spec, template } }, [], NOW);
    expect(out).toMatch(/^ {2}Image:\s+<none: boots vm\.disk>$/m);
    expect(out).toMatch(/^ {2}Digest:\s+none \(no image to pin\)$/m);
    expect(out).toMatch(/^ {2}VM disk:\s+\/img\/debian-12\.qcow2 \(copy-on-write overlay per task\)$/m);
    expect(out).toMatch(/^ {2}VM cmdline:\s+quiet$/m);
    expect(renderList(serviceLayout, [{ ...webService, spec: { ...webService.spec, template } }], { wide: false, now: NOW })).toContain('vm.disk /img/debian-12.qcow2');
    const bootloader = { ...template, vm: { vcpus: 1, disk: '/img/debian-12.qcow2' } };
    expect(describeService({ ...webService, spec: { ...webService.spec, template: bootloader } }, [], NOW)).toMatch(/^ {2}VM kernel:\s+none: the disk's own bootloader boots it$/m);
  });

  it('lists its tasks by slot', () => {
    const tasks = text.slice(text.indexOf('Tasks:'));
    expect(tasks.split('\n').map((l) => l.trim().split(/\s{2,}/))).toEqual([
      ['Tasks:'],
      ['NAME', 'SLOT', 'STATE', 'HEALTH', 'NODE', 'AGE'],
      ['web.1.x7k2p', '1', 'running', '-', 'n1', '2m'],
      ['web.2.q9m1z', '2', 'running', '-', 'n2', '10m'],
      ['web.3.h4lth', '3', 'running', 'starting', 'n1', '60s'],
    ]);
  });

  it('says <none> when there are no tasks', () => {
    expect(describeService(webService, [], NOW)).toMatch(/^Tasks:\s+<none>$/m);
  });
});

describe('describeTask and describeNode', () => {
  it('shows a task with - for what is not known yet', () => {
    const text = describeTask(stoppingTask, NOW);
    expect(text).toMatch(/^Desired State:\s+shutdown$/m);
    expect(text).toMatch(/^PID:\s+-$/m);
    expect(text).toMatch(/^Started:\s+-$/m);
    expect(text).toMatch(/^Health:\s+<no health check>$/m);
  });

  it("shows a task's health and why it failed its check", () => {
    const message = 'health check failed 2 times in a row: exited with code 1';
    const text = describeTask({ ...checkedTask, status: { ...checkedTask.status, state: 'failed', health: 'unhealthy', exitCode: 137, message } }, NOW);
    expect(text).toMatch(/^State:\s+failed\nHealth:\s+unhealthy$/m);
    expect(text).toMatch(/^Message:\s+health check failed 2 times in a row: exited with code 1$/m);
  });

  it('shows a node with capacity and the tasks placed on it', () => {
    const text = describeNode(node1, [runningTask], NOW);
    expect(text).toMatch(/^Capacity:\n {2}CPU:\s+4\n {2}Memory:\s+8Gi$/m);
    expect(text).toMatch(/^Drivers:\s+runc, qemu \(tcg\)$/m);
    expect(text).toMatch(/^\s+web\.1\.x7k2p\s+1\s+running\s+-\s+n1\s+2m$/m);
    expect(text).toMatch(/^Allocated:\n {2}CPU:\s+1500m\n {2}Memory:\s+2Gi\n {2}Tasks:\s+3$/m);
  });

  it('says since when a down node is down', () => {
    const down = { ...node1, status: { ...node1.status, state: 'down' as const, downSince: new Date(NOW.getTime() - 90_000).toISOString() } };
    expect(describeNode(down, [], NOW)).toMatch(/^State:\s+down since \S+ \(90s ago\)$/m);
  });
});

describe('shellWords', () => {
  it('quotes words a shell would split or expand', () => {
    expect(shellWords(['sh', '-c', "echo 'hi' $HOME"])).toBe(`sh -c 'echo '\\''hi'\\'' $HOME'`);
    expect(shellWords(['httpd', '-p', '8080'])).toBe('httpd -p 8080');
  });
});
