import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { BAD } from './__fixtures__/bad-manifests';
import { issuesOf } from './__fixtures__/issues';
import { ARCHITECTURE_EXAMPLE, withTemplate } from './__fixtures__/manifests';
import { parseManifests, validateManifestObjects } from './index';

/** The single plain object a text holds, or undefined when the case is about YAML itself. */
function asObject(text: string): { value: unknown } | undefined {
  const docs = parseAllDocuments(text);
  if (docs.length !== 1 || docs[0]!.errors.length > 0) return undefined;
  try {
    return { value: docs[0]!.toJS({ maxAliasCount: 100 }) as unknown };
  } catch {
    return undefined;
  }
}

const JSON_CASES = BAD.flatMap((c) => {
  const parsed = asObject(c.text);
  return parsed ? [{ ...c, value: parsed.value }] : [];
});

describe('validateManifestObjects (the JSON body path)', () => {
  it('covers the YAML table apart from YAML-only faults', () => {
    expect(JSON_CASES.length).toBeGreaterThanOrEqual(BAD.length - 10);
  });

  it.each(JSON_CASES)('$name: same path, document index, no position', (c) => {
    const issues = issuesOf(() => validateManifestObjects([c.value], { file: 'body.json' }));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toEqual({ path: c.path, message: expect.stringMatching(c.message), file: 'body.json', document: 0 });
  });

  it('gives each item its own document index and reports all of them', () => {
    const good = asObject(withTemplate(''))!.value;
    const pod = { ...(good as object), kind: 'Pod', metadata: { name: 'api' } };
    const issues = issuesOf(() => validateManifestObjects([good, pod, 'web', null]));
    expect(issues.map((i) => [i.document, i.path])).toEqual([
      [1, 'kind'],
      [2, ''],
      [3, ''],
    ]);
    expect(issues.every((i) => i.file === undefined && i.line === undefined)).toBe(true);
  });

  it('refuses a second item with the same name', () => {
    const good = asObject(withTemplate(''))!.value;
    const issues = issuesOf(() => validateManifestObjects([good, good]));
    expect(issues).toEqual([{ path: 'metadata.name', message: expect.stringContaining('already defined by item 0'), document: 1 }]);
  });

  it('refuses an empty list of items', () => {
    expect(issuesOf(() => validateManifestObjects([]))).toEqual([{ path: '', message: expect.stringMatching(/no manifests/) }]);
  });

  it('yields the same drafts as the YAML path', () => {
    expect(validateManifestObjects([asObject(ARCHITECTURE_EXAMPLE)!.value])).toEqual(parseManifests([{ file: 'x.yaml', text: ARCHITECTURE_EXAMPLE }]));
  });

  it('refuses JSON values YAML would not produce where strings are expected', () => {
    const doc = asObject(withTemplate('')) as { value: { spec: { template: Record<string, unknown> } } };
    doc.value.spec.template['command'] = [['sh', '-c']];
    const issues = issuesOf(() => validateManifestObjects([doc.value]));
    expect(issues).toEqual([expect.objectContaining({ path: 'spec.template.command[0]', message: 'must be a string (got a list)' })]);
  });
});
