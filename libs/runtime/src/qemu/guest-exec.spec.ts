import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missingTools } from '../../../../test/support/prereq';
import { GUEST_EXEC_SCRIPT } from './guest-exec';
import { GUEST_APPLETS } from './guest-init';
import { ttyExitMarker } from './guest-protocol';

const noBusybox = missingTools(['busybox']).length > 0;

/** A shell function of berth-exec, to run on the host. */
function shellFunction(name: string): string {
  const m = new RegExp(`^${name}\\(\\) \\{\\n[\\s\\S]*?^\\}$`, 'm').exec(GUEST_EXEC_SCRIPT);
  if (!m) throw new Error(`berth-exec has no function ${name}`);
  return m[0];
}

describe('berth-exec script', () => {
  it.skipIf(noBusybox)('passes `busybox sh -n`', () => {
    expect(GUEST_EXEC_SCRIPT.startsWith('#!/bin/busybox sh\n')).toBe(true);
    expect(execFileSync('busybox', ['sh', '-n'], { input: GUEST_EXEC_SCRIPT }).toString()).toBe('');
  });

  it('runs the applets the initramfs links', () => {
    for (const applet of ['telnetd', 'setsid', 'stty', 'tee', 'wc', 'mkfifo', 'mv', 'tty', 'chown', 'sleep']) {
      expect(GUEST_APPLETS).toContain(applet);
    }
  });

  it('ends a terminal with the marker the host looks for', () => {
    const { prefix, end } = ttyExitMarker('%s');
    const printf = `printf '${prefix.replace('\x1b', '\\033')}%s${end.replace('\x07', '\\007')}' "$id" "$code"`;
    expect(GUEST_EXEC_SCRIPT.replace(/\\\\/g, '\\')).toContain(printf);
  });

  it.skipIf(noBusybox)('finds commands as the workload would: in its PATH, at paths in its root, following its symlinks', () => {
    const root = mkdtempSync(join(tmpdir(), 'berth-found-'));
    try {
      mkdirSync(join(root, 'usr/bin'), { recursive: true });
      mkdirSync(join(root, 'srv/tools'), { recursive: true });
      symlinkSync('/usr/bin', join(root, 'bin')); // merged /usr, absolute: into the image
      writeFileSync(join(root, 'usr/bin/tool'), '');
      writeFileSync(join(root, 'srv/tools/local'), '');
      mkdirSync(join(root, 'usr/bin/adir'));
      const functions = [shellFunction('inroot'), shellFunction('found')].join('\n').replaceAll('/newroot', root);
      const ask = (env: string[], names: string[]) => {
        const vars = env.map((e, i) => `spec_env_${i}='${e}'`).join('\n');
        const script = `${functions}\nspec_envc=${env.length}\nspec_workdir=/srv\n${vars}\nfor n in ${names.map((n) => `'${n}'`).join(' ')}; do found "$n" && echo yes || echo no; done`;
        return execFileSync('busybox', ['sh', '-c', script]).toString().trim().split('\n');
      };
      // No PATH in the environment: execvp's default.
      expect(ask([], ['tool', 'nope', '/bin/tool', 'tools/local', './tools/local', '/srv/nope', 'adir'])).toEqual(['yes', 'no', 'yes', 'yes', 'yes', 'no', 'no']);
      expect(ask(['HOME=/', 'PATH=/srv/tools'], ['local', 'tool'])).toEqual(['yes', 'no']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
