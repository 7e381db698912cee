import { describe, expect, it } from 'vitest';
import { issuesOf } from './__fixtures__/issues';
import { withTemplate } from './__fixtures__/manifests';
import { OVERSIZED } from './__fixtures__/oversized-manifests';
import { LIMITS, limitIssues } from './bounds';
import { parseManifests, validateManifestObjects } from './index';
import { formatPath } from './issues';
import { closest } from './unknown-fields';
import { MAX_YAML_TOKENS } from './yaml-read';

const parseOne = (text: string, file = 'web.yaml') => parseManifests([{ file, text }]);
const timed = <T>(f: () => T): { value: T; ms: number } => {
  const start = performance.now();
  const value = f();
  return { value, ms: performance.now() - start };
};
const ITEM = { apiVersion: 'berth/v1', kind: 'Service', metadata: { name: 'web' }, spec: { template: { image: '127.0.0.1:5000/busybox:1' } } };

describe('limits: a manifest over one is refused at the field, like any other mistake', () => {
  it.each(OVERSIZED)('$name', (c) => {
    const issues = issuesOf(() => parseOne(c.text));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ file: 'web.yaml', path: c.path, line: c.line, col: c.col });
    expect(issues[0]!.message).toMatch(c.message);
  });

  it('accepts what is just within them: a 64 KiB env value, 24h checks and grace period, 48-character names', () => {
    const text = withTemplate(`    env: { BIG: "${'x'.repeat(LIMITS.stringBytes)}" }\n    healthCheck: { exec: ["true"], interval: 24h, timeout: 24h, startPeriod: 24h }\n    stopGracePeriod: 24h\n    volumes: [ { name: data, mountPath: /data/./x } ]\n`).replace('name: web', `name: ${'w'.repeat(48)}`);
    const [draft] = parseOne(text);
    expect(draft?.spec.template.env['BIG']).toHaveLength(LIMITS.stringBytes);
    expect(draft?.spec.template.stopGracePeriodMs).toBe(86_400_000);
  });
});

describe('one apply is bounded work, however large', () => {
  it(`refuses more than ${LIMITS.documents} JSON items at once, without validating them`, () => {
    const items = Array.from({ length: 1_390_000 }, () => ({}));
    const { value: issues, ms } = timed(() => issuesOf(() => validateManifestObjects(items)));
    expect(issues).toEqual([{ path: 'items', message: 'has 1,390,000 items; one apply may have at most 1000 (apply them in several steps)' }]);
    expect(ms).toBeLessThan(1000);
  });

  it(`lists at most ${LIMITS.issues} issues and counts the rest in one line`, () => {
    const issues = issuesOf(() => validateManifestObjects(Array.from({ length: 1000 }, () => ({}))));
    expect(issues).toHaveLength(LIMITS.issues + 1);
    expect(issues.at(-1)).toEqual({ path: '', message: '… and 3,900 more problems (only the first 100 are listed)' });
  });

  it('keeps at most 100 problems of one document, counting the rest (500 bad env names)', () => {
    const env = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`${i}X`, 'v']));
    const issues = issuesOf(() => validateManifestObjects([{ ...ITEM, spec: { template: { ...ITEM.spec.template, env } } }]));
    expect(issues).toHaveLength(LIMITS.issues + 1);
    expect(issues[0]).toMatchObject({ path: 'spec.template.env["0X"]', message: expect.stringMatching(/not a valid variable name/) as string });
    expect(issues.at(-1)?.message).toBe('… and 400 more problems (only the first 100 are listed)');
  });

  it('does the same for YAML documents, and locates only the issues it lists', () => {
    const text = Array.from({ length: 1000 }, () => 'kind: Service\n').join('---\n');
    const issues = issuesOf(() => parseOne(text));
    expect(issues).toHaveLength(LIMITS.issues + 1);
    expect(issues[0]).toMatchObject({ file: 'web.yaml', line: 1, col: 1, path: 'apiVersion' });
    expect(issues.at(-1)?.message).toMatch(/^… and 2,900 more problems/);
  });

  it(`refuses more than ${LIMITS.documents} YAML documents, at the first one too many`, () => {
    const issues = issuesOf(() => parseOne('{}\n---\n'.repeat(1001)));
    expect(issues).toEqual([{ path: '', file: 'web.yaml', line: 2000, col: 1, message: expect.stringMatching(/more than 1000 documents/) as string }]);
  });

  it('refuses 4 MiB of tiny YAML items after lexing a fraction of them (milliseconds, not a 10 s parse)', () => {
    const { value: issues, ms } = timed(() => issuesOf(() => parseOne(`items: [${'{},'.repeat(1_390_000)}]\n`)));
    expect(issues).toEqual([{ path: '', file: 'web.yaml', line: 1, col: 1, message: expect.stringContaining(`more than ${MAX_YAML_TOKENS.toLocaleString('en-US')} YAML tokens`) as string }]);
    expect(ms).toBeLessThan(2000);
  });

  it('refuses a mapping of 100,000 keys before yaml checks them for duplicates (quadratic: minutes)', () => {
    const text = `env:\n${Array.from({ length: 100_000 }, (_, i) => `  K${i}: v\n`).join('')}`;
    const { value: issues, ms } = timed(() => issuesOf(() => parseOne(text)));
    expect(issues[0]?.message).toMatch(/more than 500,000 YAML tokens|collection of 100,000 entries/);
    expect(ms).toBeLessThan(2000);
  });

  it('answers a 4,000,000-character unknown key quickly, echoing 40 characters of it', () => {
    const key = 'k'.repeat(4_000_000);
    const json = timed(() => issuesOf(() => validateManifestObjects([{ ...ITEM, [key]: 1 }])));
    expect(json.value).toEqual([{ path: `["${'k'.repeat(37)}..."]`, document: 0, message: `is a key of 4,000,000 characters; keys have at most 253 (got "${'k'.repeat(37)}...")` }]);
    expect(json.ms).toBeLessThan(1000);
    // YAML itself allows implicit keys of at most 1024 characters.
    const yaml = timed(() => issuesOf(() => parseOne(`${key}: 1\n${withTemplate('')}`)));
    expect(yaml.value[0]).toMatchObject({ file: 'web.yaml', line: 1, col: 1 });
    expect(JSON.stringify(yaml.value).length).toBeLessThan(2000);
    expect(yaml.ms).toBeLessThan(1000);
  });
});

describe('the caps inside validation', () => {
  it('"did you mean" compares no name that cannot be close (a huge key costs nothing)', () => {
    expect(closest('replica', ['replicas', 'mode'])).toBe('replicas');
    const { value, ms } = timed(() => closest('r'.repeat(200), ['replicas', 'mode']));
    expect(value).toBeUndefined();
    expect(ms).toBeLessThan(5);
  });

  it('paths show long keys cut to 40 characters', () => {
    expect(formatPath(['spec', 'x'.repeat(1000), 0])).toBe(`spec["${'x'.repeat(37)}..."][0]`);
    expect(formatPath(['metadata', 'labels', 'app.io/name'])).toBe('metadata.labels["app.io/name"]');
  });

  it('limitIssues keeps the first ones and counts the rest, including those never located', () => {
    const many = Array.from({ length: 150 }, (_, i) => ({ path: `f${i}`, message: 'is wrong' }));
    expect(limitIssues(many.slice(0, 3))).toHaveLength(3);
    const limited = limitIssues(many, 1_389_840);
    expect(limited).toHaveLength(101);
    expect(limited[100]?.message).toBe('… and 1,389,890 more problems (only the first 100 are listed)');
    expect(limitIssues(many.slice(0, 100), 1).at(-1)?.message).toBe('… and 1 more problem (only the first 100 are listed)');
  });
});
