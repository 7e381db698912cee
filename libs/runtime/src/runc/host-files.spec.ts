import { describe, expect, it } from 'vitest';
import { cgroupDirs, parseCgroupLayout, parseKeyValues } from './cgroups';
import { conmonArgs, parseSyncMessage } from './conmon';
import { mountPoints, overlayOptions } from './overlay';
import { taskPaths } from './task-paths';
import { resolveUser } from './user';

const hybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;

describe('cgroup layout', () => {
  it('maps v1 controllers and the unified hierarchy of a hybrid host', () => {
    const layout = parseCgroupLayout(hybrid);
    expect(layout.v1.get('cpuacct')).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(layout.v1.get('memory')).toBe('/sys/fs/cgroup/memory');
    expect(layout.v1.get('name=systemd')).toBe('/sys/fs/cgroup/systemd');
    expect(layout.unified).toBe('/sys/fs/cgroup/unified');
    expect(cgroupDirs(layout, '/berth/n/t')).toEqual([
      '/sys/fs/cgroup/cpu,cpuacct/berth/n/t',
      '/sys/fs/cgroup/memory/berth/n/t',
      '/sys/fs/cgroup/systemd/berth/n/t',
      '/sys/fs/cgroup/unified/berth/n/t',
    ]);
  });

  it('sees a pure v2 host as one hierarchy', () => {
    const layout = parseCgroupLayout('25 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate');
    expect(layout.v1.size).toBe(0);
    expect(cgroupDirs(layout, '/berth/n/t')).toEqual(['/sys/fs/cgroup/berth/n/t']);
  });

  it('reads key/value stat files', () => {
    expect(parseKeyValues('usage_usec 1500\nuser_usec 1000\n').get('usage_usec')).toBe(1500);
  });
});

describe('conmon', () => {
  it('passes the runtime root through --runtime-arg and logs in k8s-file format', () => {
    const args = conmonArgs({
      conmon: 'conmon',
      runtime: '/usr/sbin/runc',
      runtimeArgs: ['--root=/run/berth/n/runc'],
      id: 't1',
      bundle: '/b',
      pidFile: '/b/pid',
      conmonPidFile: '/b/conmon.pid',
      logPath: '/b/task.log',
      exitDir: '/b/exit',
      socketDir: '/b/s',
      logSizeMax: 1024,
    });
    expect(args.join(' ')).toBe(
      '--api-version 1 -c t1 -u t1 -n t1 -r /usr/sbin/runc -b /b -p /b/pid -P /b/conmon.pid -l k8s-file:/b/task.log --log-size-max 1024 --exit-dir /b/exit --socket-dir-path /b/s --runtime-arg --root=/run/berth/n/runc',
    );
  });

  it('reads the sync pipe answer', () => {
    expect(parseSyncMessage('{"data": 4242}')).toEqual([undefined, 4242]);
    const [err] = parseSyncMessage('{"data": -1, "message": "exec: \\"nope\\": executable file not found in $PATH"}');
    expect(err?.message).toMatch(/runc create: exec: "nope": executable file not found/);
    expect(parseSyncMessage('')[0]?.message).toMatch(/exited without creating the container/);
  });
});

describe('overlay and task paths', () => {
  it('builds overlay options and refuses paths that would break them', () => {
    expect(overlayOptions({ lower: '/img', upper: '/t/u', work: '/t/w', target: '/t/r' })).toBe('lowerdir=/img,upperdir=/t/u,workdir=/t/w');
    expect(() => overlayOptions({ lower: '/a:b', upper: '/u', work: '/w', target: '/r' })).toThrow(/contains/);
  });

  it('decodes escaped mount points', () => {
    expect(mountPoints('36 35 0:30 / /tmp/with\\040space rw - overlay overlay rw').has('/tmp/with space')).toBe(true);
  });

  it('refuses task ids that are not safe as directory names', () => {
    expect(taskPaths('/d', 'web.1.x').exitFile).toBe('/d/tasks/web.1.x/exit/web.1.x');
    expect(() => taskPaths('/d', '../etc')).toThrow(/task id/);
    expect(() => taskPaths('/d', 'a/b')).toThrow(/task id/);
  });
});

describe('resolveUser', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n';
  const group = 'root:x:0:\nstaff:x:50:\n';
  it('resolves names and numbers the way Docker does', () => {
    expect(resolveUser(undefined, passwd, group)).toEqual({ uid: 0, gid: 0 });
    expect(resolveUser('app', passwd, group)).toEqual({ uid: 1000, gid: 1001 });
    expect(resolveUser('app:staff', passwd, group)).toEqual({ uid: 1000, gid: 50 });
    expect(resolveUser('1000', passwd, group)).toEqual({ uid: 1000, gid: 1001 });
    expect(resolveUser('4242:7', '', '')).toEqual({ uid: 4242, gid: 7 });
    expect(resolveUser('ghost', passwd, group)).toEqual({ problem: `user "ghost" is not in the image's /etc/passwd` });
  });
});
