import { describe, expect, it } from 'vitest';
import type { Service, ServiceDraft } from '@berth/core';
import { ARCHITECTURE_EXAMPLE } from './__fixtures__/manifests';
import { diffService, parseManifests } from './index';

const draftOf = (text: string): ServiceDraft => parseManifests([{ file: 'web.yaml', text }])[0]!;
const stored = (d: ServiceDraft): Service => ({
  meta: { name: d.name, labels: d.labels, resourceVersion: '7', generation: 1, revision: 1, createdAt: 't0', updatedAt: 't0' },
  spec: d.spec,
});

const current = stored(draftOf(ARCHITECTURE_EXAMPLE));

describe('diffService', () => {
  it('is empty when nothing would change', () => {
    expect(diffService(current, draftOf(ARCHITECTURE_EXAMPLE))).toBe('');
  });

  it('is empty when only the spelling changes (defaults written out, other quantity forms)', () => {
    const respelled = ARCHITECTURE_EXAMPLE.replace('cpu: 500m', 'cpu: 0.5').replace('memory: 64Mi', 'memory: 67108864').replace('mode: replicated', '');
    expect(diffService(current, draftOf(respelled))).toBe('');
  });

  it('names the changed replicas line in a unified hunk', () => {
    const diff = diffService(current, draftOf(ARCHITECTURE_EXAMPLE.replace('replicas: 3', 'replicas: 5')));
    const lines = diff.split('\n');
    expect(lines.slice(0, 2)).toEqual(['--- web (stored)', '+++ web (manifest)']);
    expect(lines.filter((l) => /^[-+] /.test(l))).toEqual(['-  replicas: 3', '+  replicas: 5']);
    expect(lines[2]).toMatch(/^@@ -\d+,7 \+\d+,7 @@$/);
    expect(diff.endsWith('\n')).toBe(true);
  });

  it('shows label changes and separate hunks for distant changes', () => {
    const changed = ARCHITECTURE_EXAMPLE.replace('tier: frontend', 'tier: backend').replace('strategy: spread', 'strategy: binpack');
    const diff = diffService(current, draftOf(changed));
    expect(diff).toContain('-    tier: frontend\n+    tier: backend\n');
    expect(diff).toContain('-    strategy: spread\n+    strategy: binpack\n');
    expect(diff.match(/^@@ /gm)).toHaveLength(2);
  });

  it('shows changes to maxFailureRatio and the rollback block, and nothing for rollback defaults written out', () => {
    const withRollback = (block: string) => ARCHITECTURE_EXAMPLE.replace(/(  update: .*\n)/, `$1${block}`);
    expect(diffService(current, draftOf(withRollback('  rollback: { parallelism: 1, delay: 0s, monitor: 5s, maxFailureRatio: 0, failureAction: pause, order: stop-first }\n')))).toBe('');
    const diff = diffService(current, draftOf(withRollback('  rollback: { maxFailureRatio: 0.5, failureAction: continue }\n').replace('monitor: 5s,', 'monitor: 5s, maxFailureRatio: 0.2,')));
    expect(diff.split('\n').filter((l) => /^[-+] /.test(l))).toEqual([
      '-    maxFailureRatio: 0',
      '+    maxFailureRatio: 0.2',
      '-    maxFailureRatio: 0',
      '-    failureAction: pause',
      '+    maxFailureRatio: 0.5',
      '+    failureAction: continue',
    ]);
  });

  it('shows the pinned digest beside the image: a tag that now names other bits is a change', () => {
    const [a, b] = [`sha256:${'a'.repeat(64)}`, `sha256:${'b'.repeat(64)}`];
    const pin = (d: ServiceDraft, digest: string): ServiceDraft => ({ ...d, spec: { ...d.spec, template: { ...d.spec.template, imageDigest: digest } } });
    const pinnedA = stored(pin(draftOf(ARCHITECTURE_EXAMPLE), a));
    expect(diffService(pinnedA, pin(draftOf(ARCHITECTURE_EXAMPLE), a))).toBe('');
    const diff = diffService(pinnedA, pin(draftOf(ARCHITECTURE_EXAMPLE), b));
    expect(diff.split('\n').filter((l) => /^[-+] /.test(l))).toEqual([`-    imageDigest: ${a}`, `+    imageDigest: ${b}`]);
    expect(diff).toMatch(/^ {5}image: 127\.0\.0\.1:5000\/busybox:1\n-    imageDigest:/m);
  });

  it('shows a new service as all added lines', () => {
    const diff = diffService(undefined, draftOf(ARCHITECTURE_EXAMPLE));
    const [minus, plus, hunk, ...body] = diff.trimEnd().split('\n');
    expect([minus, plus]).toEqual(['--- /dev/null', '+++ web']);
    expect(hunk).toBe(`@@ -0,0 +1,${body.length} @@`);
    expect(body.every((l) => l.startsWith('+'))).toBe(true);
    expect(body).toContain('+  replicas: 3');
    expect(body).toContain('+    tier: frontend');
  });
});
