import type { BadCase } from './bad-manifests';
import { withSpec, withTemplate } from './manifests';

const kib = (n: number, c = 'x'): string => c.repeat(n * 1024);
const envLines = (n: number, value: string): string => Array.from({ length: n }, (_, i) => `      V${i}: "${value}"\n`).join('');
const args = (n: number): string => `[${Array.from({ length: n }, () => '"a"').join(', ')}]`;
const labels = (n: number): string => Array.from({ length: n }, (_, i) => `l${i}: v`).join(', ');

// Manifests over one of the limits of docs/api.md ("Limits"): each has exactly one thing too
// large, and the issue points at it like any other (file:line:col, field, what is allowed).
export const OVERSIZED: readonly BadCase[] = [
  { name: 'env value over 64 KiB', text: withTemplate(`    env:\n      BIG: "${kib(64)}x"\n`), path: 'spec.template.env.BIG', line: 9, col: 12, message: /^is 65,537 bytes; a string may have at most 65,536 \(64 KiB\)$/ },
  { name: 'env over 128 KiB together', text: withTemplate(`    env:\n${envLines(3, kib(48))}`), path: 'spec.template.env', line: 9, col: 7, message: /bytes \(names and values\); at most 131,072 \(128 KiB\)/ },
  { name: 'env with 1001 variables', text: withTemplate(`    env:\n${envLines(1001, 'v')}`), path: '', line: 9, col: 7, message: /has a collection of 1,001 entries; at most 1000/ },
  { name: 'command with 257 arguments', text: withTemplate(`    command: ${args(257)}\n`), path: 'spec.template.command', line: 8, col: 14, message: /has 257 arguments; at most 256/ },
  { name: 'command over 128 KiB', text: withTemplate(`    command: ["${kib(60)}", "${kib(60)}", "${kib(60)}"]\n`), path: 'spec.template.command', line: 8, col: 14, message: /the arguments together may have at most 131,072/ },
  { name: 'health exec with 257 arguments', text: withTemplate(`    healthCheck: { exec: ${args(257)} }\n`), path: 'spec.template.healthCheck.exec', line: 8, col: 26, message: /has 257 arguments/ },
  { name: '65 labels', text: withTemplate('').replace('name: web\n', `name: web\n  labels: { ${labels(65)} }\n`), path: 'metadata.labels', line: 5, col: 11, message: /^has 65 labels; at most 64 are allowed$/ },
  { name: 'image of 1025 characters', text: withTemplate('').replace('busybox:1', `b${'x'.repeat(1010)}:1`), path: 'spec.template.image', line: 7, col: 12, message: /characters; at most 1,024 are allowed/ },
  { name: 'health interval 600h', text: withTemplate('    healthCheck: { exec: ["true"], interval: 600h }\n'), path: 'spec.template.healthCheck.interval', line: 8, col: 46, message: /^must be at most 24h \(got "600h"\)$/ },
  { name: 'health timeout over a day', text: withTemplate('    healthCheck: { exec: ["true"], timeout: 24h1ms }\n'), path: 'spec.template.healthCheck.timeout', line: 8, col: 45, message: /at most 24h/ },
  { name: 'health startPeriod 25h', text: withTemplate('    healthCheck: { exec: ["true"], startPeriod: 25h }\n'), path: 'spec.template.healthCheck.startPeriod', line: 8, col: 49, message: /at most 24h/ },
  { name: 'stopGracePeriod 25h', text: withTemplate('    stopGracePeriod: 25h\n'), path: 'spec.template.stopGracePeriod', line: 8, col: 22, message: /^must be at most 24h \(got "25h"\)$/ },
  { name: 'restart maxDelay 48h', text: withTemplate('', '  restartPolicy: { maxDelay: 48h }\n'), path: 'spec.restartPolicy.maxDelay', line: 8, col: 30, message: /at most 24h/ },
  { name: 'update monitor 30 days', text: withTemplate('', '  update: { monitor: 720h }\n'), path: 'spec.update.monitor', line: 8, col: 22, message: /at most 24h \(got "720h"\)/ },
  { name: 'restart maxAttempts past a million', text: withTemplate('', '  restartPolicy: { maxAttempts: 9007199254740991 }\n'), path: 'spec.restartPolicy.maxAttempts', line: 8, col: 33, message: /at most 2,147,483,647/ },
  { name: 'maxPerNode past 10000', text: withTemplate('', '  placement: { maxPerNode: 4294967296 }\n'), path: 'spec.placement.maxPerNode', line: 8, col: 28, message: /at most 10,000/ },
  { name: 'cpu past 4096 cores', text: withTemplate('    resources: { cpu: 5000 }\n'), path: 'spec.template.resources.cpu', line: 8, col: 23, message: /at most 4096 cores/ },
  { name: 'memory past 16Ti', text: withTemplate('    resources: { memory: 17Ti }\n'), path: 'spec.template.resources.memory', line: 8, col: 26, message: /at most 16Ti/ },
  { name: 'mountPath "//"', text: withTemplate('    volumes: [ { name: data, mountPath: "//" } ]\n'), path: 'spec.template.volumes[0].mountPath', line: 8, col: 41, message: /must not be the root directory \(got "\/\/", which is "\/"\)/ },
  { name: 'mountPath "/./"', text: withTemplate('    volumes: [ { name: data, mountPath: /./ } ]\n'), path: 'spec.template.volumes[0].mountPath', line: 8, col: 41, message: /root directory/ },
  { name: 'mountPath "/a/.."', text: withTemplate('    volumes: [ { name: data, mountPath: /a/.. } ]\n'), path: 'spec.template.volumes[0].mountPath', line: 8, col: 41, message: /without "\.\."/ },
  { name: 'a key of 300 characters', text: withTemplate('', `  ${'k'.repeat(300)}: 1\n`), path: `spec["${'k'.repeat(37)}..."]`, line: 8, col: 3, message: /^is a key of 300 characters; keys have at most 253 \(got "k{37}\.\.\."\)$/ },
  { name: 'nesting past 16 levels', text: withSpec(`  template: ${'['.repeat(20)}${']'.repeat(20)}\n`), path: 'spec.template[0][0][0][0][0][0][0][0][0][0][0][0][0][0]', line: 6, col: 27, message: /nests deeper than 16 levels/ },
  { name: 'a list of 1001 ports', text: withTemplate(`    ports: [${Array.from({ length: 1001 }, (_, i) => `{ containerPort: ${(i % 60000) + 1} }`).join(', ')}]\n`), path: '', line: 8, col: 12, message: /has a collection of 1,001 entries; at most 1000 are allowed/ },
];
