import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sameTemplate, TooLargeError } from '@berth/core';
import { BAD } from './__fixtures__/bad-manifests';
import { issuesOf } from './__fixtures__/issues';
import { ARCHITECTURE_EXAMPLE, ARCHITECTURE_VERBATIM, withSpec, withTemplate } from './__fixtures__/manifests';
import { MAX_MANIFEST_BYTES, parseManifests } from './index';

const EXAMPLES = resolve(__dirname, '../../../examples');
const parseOne = (text: string, file = 'web.yaml') => parseManifests([{ file, text }]);

describe('parseManifests refuses bad manifests, pointing at the offending field', () => {
  it.each(BAD)('$name', (c) => {
    const issues = issuesOf(() => parseOne(c.text));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ file: 'web.yaml', path: c.path, line: c.line, col: c.col });
    expect(issues[0]!.document).toBe(c.document === 'none' ? undefined : (c.document ?? 0));
    expect(issues[0]!.message).toMatch(c.message);
  });

  it('formats issues as file:line:col: path message', () => {
    const error = (() => {
      try {
        parseOne(withTemplate('', '  replicas: three\n'));
      } catch (e) {
        return e as Error;
      }
      throw new Error('accepted');
    })();
    expect(error.message).toBe('web.yaml:8:13: spec.replicas must be an integer between 0 and 10000 (got "three")');
  });

  it('refuses text over MAX_MANIFEST_BYTES before parsing, naming the file', () => {
    const text = `# ${'x'.repeat(MAX_MANIFEST_BYTES)}\n`;
    expect(() => parseOne(text, 'huge.yaml')).toThrow(TooLargeError);
    expect(() => parseOne(text, 'huge.yaml')).toThrow(/huge\.yaml is \d+ bytes; a manifest may be at most 4Mi/);
  });

  it('refuses several texts that are too large together', () => {
    const half = { text: `# ${'x'.repeat(MAX_MANIFEST_BYTES / 2)}\n` };
    expect(() => parseManifests([{ file: 'a.yaml', ...half }, { file: 'b.yaml', ...half }])).toThrow(TooLargeError);
  });

  it('reports every issue of a document, in source order', () => {
    const text = withTemplate('    resources: { cpu: 0, memory: 64MB }\n', '  replicas: -1\n  mode: daemon\n');
    const issues = issuesOf(() => parseOne(text));
    expect(issues.map((i) => [i.path, i.line, i.col])).toEqual([
      ['spec.template.resources.cpu', 8, 23],
      ['spec.template.resources.memory', 8, 34],
      ['spec.replicas', 9, 13],
      ['spec.mode', 10, 9],
    ]);
  });
});

describe('several documents and files', () => {
  it('reports the issues of every document and file, each with its own file and document index', () => {
    const a = `${withTemplate('', '  replicas: many\n')}---\n${withTemplate('').replace('name: web', 'name: api').replace('berth/v1', 'berth/v2')}`;
    const b = withTemplate('    env: { PORT: 80 }\n').replace('name: web', 'name: db');
    const issues = issuesOf(() => parseManifests([{ file: 'a.yaml', text: a }, { file: 'b.yaml', text: b }]));
    expect(issues.map((i) => [i.file, i.document, i.path, i.line])).toEqual([
      ['a.yaml', 0, 'spec.replicas', 8],
      ['a.yaml', 1, 'apiVersion', 10],
      ['b.yaml', 0, 'spec.template.env.PORT', 8],
    ]);
  });

  it('refuses a service defined twice in one apply, on the second definition', () => {
    const issues = issuesOf(() => parseManifests([{ file: 'a.yaml', text: withTemplate('') }, { file: 'b.yaml', text: `---\n${withTemplate('')}` }]));
    expect(issues).toEqual([
      expect.objectContaining({ file: 'b.yaml', document: 0, path: 'metadata.name', line: 5, col: 9, message: expect.stringMatching(/"web" is already defined by a\.yaml document 0/) }),
    ]);
  });

  it('returns the drafts of all documents in order', () => {
    const text = `${withTemplate('')}---\n${withTemplate('').replace('name: web', 'name: api')}`;
    expect(parseManifests([{ file: 'x.yaml', text }, { file: 'y.yaml', text: withTemplate('').replace('name: web', 'name: db') }]).map((d) => d.name)).toEqual(['web', 'api', 'db']);
  });
});

describe('good manifests', () => {
  it('parses the architecture.md example into a fully defaulted, normalised draft', () => {
    expect(parseOne(ARCHITECTURE_EXAMPLE)).toEqual([
      {
        name: 'web',
        labels: { tier: 'frontend' },
        spec: {
          mode: 'replicated',
          replicas: 3,
          template: {
            runtime: 'container',
            image: '127.0.0.1:5000/busybox:1',
            command: ['httpd', '-f', '-p', '8080'],
            env: { GREETING: 'hello' },
            resources: { cpuMillis: 500, memoryBytes: 64 * 1024 * 1024, pids: 256 },
            ports: [{ containerPort: 8080, hostPort: 18080, protocol: 'tcp' }],
            healthCheck: { exec: ['wget', '-qO-', 'http://127.0.0.1:8080/'], intervalMs: 5000, timeoutMs: 2000, retries: 3, startPeriodMs: 2000 },
            volumes: [{ name: 'data', mountPath: '/data' }],
            stopGracePeriodMs: 10_000,
          },
          restartPolicy: { condition: 'any', delayMs: 1000, maxDelayMs: 30_000, maxAttempts: 0 },
          update: { parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'rollback', order: 'stop-first' },
          rollback: { parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' },
          placement: { constraints: ['node.labels.zone == a'], maxPerNode: 2, strategy: 'spread' },
          fencing: false,
        },
      },
    ]);
  });

  it('refuses the example verbatim only for its vm block, which needs runtime vm', () => {
    const issues = issuesOf(() => parseOne(ARCHITECTURE_VERBATIM));
    expect(issues).toEqual([expect.objectContaining({ path: 'spec.template.vm', line: 18, col: 9 })]);
  });

  it('fills every default for a minimal manifest', () => {
    const [draft] = parseOne(withTemplate(''));
    expect(draft).toEqual({
      name: 'web',
      labels: {},
      spec: {
        mode: 'replicated',
        replicas: 1,
        template: { runtime: 'container', image: '127.0.0.1:5000/busybox:1', env: {}, resources: {}, ports: [], volumes: [], stopGracePeriodMs: 10_000 },
        restartPolicy: { condition: 'any', delayMs: 1000, maxDelayMs: 30_000, maxAttempts: 0 },
        update: { parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' },
        rollback: { parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0, failureAction: 'pause', order: 'stop-first' },
        placement: { constraints: [], maxPerNode: 0, strategy: 'spread' },
        fencing: false,
      },
    });
  });

  it('accepts numbers and strings for quantities, and fills health-check and vm defaults', () => {
    const [container] = parseOne(withTemplate('    healthCheck: { exec: ["true"] }\n'));
    expect(container!.spec.template.healthCheck).toEqual({ exec: ['true'], intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 });
    const text = withTemplate(
      '    runtime: vm\n    resources: { cpu: 1, memory: 1048576 }\n    vm: { kernel: default }\n    ports: [ { containerPort: 53, protocol: udp } ]\n',
      '  mode: global\n  placement: { constraints: ["node.name!=n3"] }\n',
    ).replace('exec: [true]', 'exec: ["true"]');
    const [draft] = parseOne(text);
    expect(draft!.spec).toMatchObject({
      mode: 'global',
      replicas: 0,
      template: {
        runtime: 'vm',
        vm: { vcpus: 1 },
        resources: { cpuMillis: 1000, memoryBytes: 1048576 },
        ports: [{ containerPort: 53, protocol: 'udp' }],
      },
      placement: { constraints: ['node.name != n3'] },
    });
    expect(draft!.spec.template.vm).toEqual({ vcpus: 1 }); // "default" leaves the kernel to the node
    const [pinned] = parseOne(withTemplate('    runtime: vm\n    vm: { vcpus: 2, kernel: /boot/vmlinuz-6.1.0-57-amd64 }\n'));
    expect(pinned!.spec.template.vm).toEqual({ vcpus: 2, kernel: '/boot/vmlinuz-6.1.0-57-amd64' });
  });

  it('reads a disk VM: no image, the disk, kernel and cmdline as written, ports and tcp/http checks as for any VM', () => {
    const text = withSpec(
      '  template:\n    runtime: vm\n    vm: { disk: /var/lib/images/debian-12.qcow2, kernel: /boot/vmlinuz-6.1.0-57-amd64, cmdline: "quiet" }\n' +
        '    resources: { cpu: 1, memory: 256Mi }\n    ports: [ { containerPort: 8080, hostPort: 18082 } ]\n    healthCheck: { tcp: { port: 8080 } }\n',
    );
    const [draft] = parseOne(text);
    expect(draft!.spec.template.image).toBeUndefined();
    expect(draft!.spec.template.vm).toEqual({ vcpus: 1, kernel: '/boot/vmlinuz-6.1.0-57-amd64', disk: '/var/lib/images/debian-12.qcow2', cmdline: 'quiet' });
    expect(draft!.spec.template.ports).toEqual([{ containerPort: 8080, hostPort: 18082, protocol: 'tcp' }]);
  });

  it('reads tcp and http health checks, the http path defaulting to "/"; a VM takes them', () => {
    const timing = { intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 };
    const check = (text: string) => parseOne(withTemplate(text))[0]!.spec.template.healthCheck;
    expect(check('    healthCheck: { tcp: { port: 6379 }, interval: 1s }\n')).toEqual({ tcp: { port: 6379 }, ...timing, intervalMs: 1000 });
    expect(check('    healthCheck: { http: { port: 8080 } }\n')).toEqual({ http: { port: 8080, path: '/' }, ...timing });
    expect(check('    healthCheck: { http: { port: 8080, path: "/healthz?full=1" }, timeout: 1s }\n')).toEqual({ http: { port: 8080, path: '/healthz?full=1' }, ...timing, timeoutMs: 1000 });
    expect(check('    runtime: vm\n    healthCheck: { http: { port: 80, path: /healthz } }\n')).toEqual({ http: { port: 80, path: '/healthz' }, ...timing });
    expect(check('    runtime: vm\n    healthCheck: { tcp: { port: 22 } }\n')).toEqual({ tcp: { port: 22 }, ...timing });
  });

  it('reads a securityContext in one spelling: capabilities CAP_-prefixed, sorted, once; defaults written out are no change', () => {
    const template = (text: string) => parseOne(withTemplate(text))[0]!.spec.template;
    const plain = template('');
    expect(plain.securityContext).toBeUndefined();
    const defaults = template('    securityContext: { capabilities: { add: [] }, readOnlyRootFilesystem: false, privileged: false }\n');
    expect(defaults).toEqual(plain);
    expect(sameTemplate(defaults, plain)).toBe(true);
    const a = template('    securityContext: { capabilities: { add: [NET_RAW, cap_net_bind_service, CAP_NET_RAW] } }\n');
    const b = template('    securityContext:\n      capabilities: { add: [CAP_NET_BIND_SERVICE, net_raw] }\n');
    expect(a.securityContext).toEqual({ addCapabilities: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'] });
    expect(sameTemplate(a, b)).toBe(true);
    const hardened = template('    securityContext: { readOnlyRootFilesystem: true, runAsUser: 1000, runAsGroup: 0 }\n');
    expect(hardened.securityContext).toEqual({ readOnlyRootFilesystem: true, runAsUser: 1000, runAsGroup: 0 });
    // A changed securityContext is a changed template: a rollout, like any other template change.
    expect(sameTemplate(hardened, plain)).toBe(false);
    expect(sameTemplate(a, plain)).toBe(false);
    expect(template('    securityContext: { userNamespace: false }\n')).toEqual(plain);
    const userns = template('    securityContext: { userNamespace: true }\n');
    expect(userns.securityContext).toEqual({ userNamespace: true });
    expect(sameTemplate(userns, plain)).toBe(false);
  });

  it('reads placement.spreadBy as one node label, stored in one spelling', () => {
    const [draft] = parseOne(withTemplate('', '  placement: { spreadBy: " node.labels.topology.kubernetes.io/zone " }\n'));
    expect(draft!.spec.placement).toEqual({ constraints: [], maxPerNode: 0, strategy: 'spread', spreadBy: 'node.labels.topology.kubernetes.io/zone' });
  });

  it('reads update.maxFailureRatio and a rollback block, filling what is left out from the defaults', () => {
    const text = withTemplate(
      '    ports: [ { containerPort: 80, hostPort: 18080 } ]\n',
      '  update: { maxFailureRatio: 0.25, failureAction: rollback }\n  rollback:\n    parallelism: 0\n    monitor: 10s\n    maxFailureRatio: 1\n    failureAction: continue\n',
    );
    const [draft] = parseOne(text);
    expect(draft!.spec.update).toEqual({ parallelism: 1, delayMs: 0, monitorMs: 5000, maxFailureRatio: 0.25, failureAction: 'rollback', order: 'stop-first' });
    expect(draft!.spec.rollback).toEqual({ parallelism: 0, delayMs: 0, monitorMs: 10_000, maxFailureRatio: 1, failureAction: 'continue', order: 'stop-first' });
  });

  it('accepts rollback order start-first without a hostPort, and both ends of the ratio range', () => {
    const [draft] = parseOne(withTemplate('    ports: [ { containerPort: 80 } ]\n', '  update: { maxFailureRatio: 0 }\n  rollback: { order: start-first, maxFailureRatio: 1.0 }\n'));
    expect(draft!.spec.update.maxFailureRatio).toBe(0);
    expect(draft!.spec.rollback).toMatchObject({ order: 'start-first', maxFailureRatio: 1, failureAction: 'pause' });
  });

  it('reports a start-first update and rollback with a hostPort once each', () => {
    const text = withTemplate('    ports: [ { containerPort: 80, hostPort: 18080 } ]\n', '  update: { order: start-first }\n  rollback: { order: start-first }\n');
    expect(issuesOf(() => parseOne(text)).map((i) => [i.path, i.line])).toEqual([
      ['spec.update.order', 9],
      ['spec.rollback.order', 10],
    ]);
  });

  it('keeps resourceVersion and accepts OCI layouts and digests as images', () => {
    const digest = `127.0.0.1:5000/busybox@sha256:${'a'.repeat(64)}`;
    const text = `${withTemplate('').replace('name: web\n', 'name: web\n  resourceVersion: "42"\n')}---\n${withTemplate('').replace('name: web', 'name: api').replace('127.0.0.1:5000/busybox:1', 'oci:/srv/images/busybox:1')}---\n${withTemplate('').replace('name: web', 'name: db').replace('127.0.0.1:5000/busybox:1', digest)}`;
    const drafts = parseOne(text);
    expect(drafts.map((d) => [d.resourceVersion, d.spec.template.image])).toEqual([
      ['42', '127.0.0.1:5000/busybox:1'],
      [undefined, 'oci:/srv/images/busybox:1'],
      [undefined, digest],
    ]);
  });

  it.each(['web.yaml', 'hello-port.yaml', 'vmweb.yaml'])('examples/%s validates', (file) => {
    const path = resolve(EXAMPLES, file);
    const [draft] = parseOne(readFileSync(path, 'utf8'), file);
    expect(draft!.spec.template.image).toBe('127.0.0.1:5000/busybox:1');
  });

  it('examples/web.yaml runs 3 busybox httpd replicas with 250m cpu and 32Mi memory', () => {
    const [draft] = parseOne(readFileSync(resolve(EXAMPLES, 'web.yaml'), 'utf8'));
    expect(draft!.spec).toMatchObject({ replicas: 3, template: { resources: { cpuMillis: 250, memoryBytes: 32 * 1024 * 1024 } } });
    expect(draft!.spec.template.command?.join(' ')).toMatch(/exec httpd .*-p 8080 /);
  });

  it('examples/vmweb.yaml runs a VM of 256 MiB with the default kernel, published on 18081', () => {
    const [draft] = parseOne(readFileSync(resolve(EXAMPLES, 'vmweb.yaml'), 'utf8'));
    expect(draft!.spec).toMatchObject({ replicas: 1, template: { runtime: 'vm', vm: { vcpus: 1 }, resources: { memoryBytes: 256 * 1024 * 1024 } } });
    expect(draft!.spec.template.vm).not.toHaveProperty('kernel');
    expect(draft!.spec.template.ports).toEqual([{ containerPort: 8080, hostPort: 18081, protocol: 'tcp' }]);
  });

  it('examples/hello-port.yaml publishes host port 18080 to container port 8080', () => {
    const [draft] = parseOne(readFileSync(resolve(EXAMPLES, 'hello-port.yaml'), 'utf8'));
    expect(draft!.spec.replicas).toBe(1);
    expect(draft!.spec.template.ports).toEqual([{ containerPort: 8080, hostPort: 18080, protocol: 'tcp' }]);
  });
});
