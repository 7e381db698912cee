import { withSpec, withTemplate } from './manifests';

export interface BadCase {
  readonly name: string;
  readonly text: string;
  readonly path: string;
  readonly line: number;
  readonly col: number;
  readonly message: RegExp;
  /** Index of the document in its file; 'none' when the file has no document. */
  readonly document?: number | 'none';
}

let bomb = 'a: &a [x, x, x, x, x, x, x, x, x]\n';
for (const [prev, next] of ['ab', 'bc', 'cd', 'de', 'ef', 'fg', 'gh']) bomb += `${next}: &${next} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]\n`;

// Each text has exactly one thing wrong; the issue must point at it (the value, or the key of an
// unknown field) and say what would be accepted.
export const BAD: readonly BadCase[] = [
  { name: 'unknown top-level field', text: `${withTemplate('')}status: {}\n`, path: 'status', line: 8, col: 1, message: /^is not a known field \(known fields: apiVersion, kind, metadata, spec\)$/ },
  { name: 'unknown spec field, close to a known one', text: withTemplate('', '  replica: 3\n'), path: 'spec.replica', line: 8, col: 3, message: /^is not a known field \(did you mean "replicas"\?\)$/ },
  { name: 'unknown field in a list item', text: withTemplate('    ports:\n      - containerPort: 8080\n        hostport: 18080\n'), path: 'spec.template.ports[0].hostport', line: 10, col: 9, message: /did you mean "hostPort"/ },
  { name: 'duplicate key', text: withTemplate('', '  replicas: 2\n  replicas: 3\n'), path: 'spec.replicas', line: 9, col: 3, message: /given twice/ },
  { name: 'alias bomb', text: bomb, path: '', line: 1, col: 1, message: /more than 100 aliases/ },
  { name: 'empty file', text: '', path: '', line: 1, col: 1, message: /no documents/, document: 'none' },
  { name: 'only comments', text: '# nothing here\n# at all\n', path: '', line: 1, col: 1, message: /no documents/, document: 'none' },
  { name: 'document that is a list', text: '- web\n- api\n', path: '', line: 1, col: 1, message: /must be a mapping .*\(got a list\)/ },
  { name: 'document that is a scalar', text: 'web\n', path: '', line: 1, col: 1, message: /must be a mapping .*\(got "web"\)/ },
  { name: 'null document between separators', text: `${withTemplate('')}---\n---\n${withTemplate('').replace('name: web', 'name: api')}`, path: '', line: 8, col: 1, message: /document is empty/, document: 1 },
  { name: 'YAML syntax error', text: withTemplate('    command: ["httpd", "-f"\n'), path: '', line: 9, col: 1, message: /^invalid YAML: Flow sequence/ },
  { name: 'tab indentation', text: withTemplate('    env:\n\tA: b\n'), path: '', line: 9, col: 1, message: /^invalid YAML: Tabs/ },
  { name: 'wrong kind', text: withTemplate('').replace('kind: Service', 'kind: Deployment'), path: 'kind', line: 2, col: 7, message: /^must be "Service" \(got "Deployment"\)$/ },
  { name: 'wrong apiVersion', text: withTemplate('').replace('berth/v1', 'v1'), path: 'apiVersion', line: 1, col: 13, message: /^must be "berth\/v1" \(got "v1"\)$/ },
  { name: 'missing apiVersion', text: withTemplate('').replace('apiVersion: berth/v1\n', ''), path: 'apiVersion', line: 1, col: 1, message: /^is required$/ },
  { name: 'name too long', text: withTemplate('').replace('name: web', `name: ${'w'.repeat(49)}`), path: 'metadata.name', line: 4, col: 9, message: /at most 48 characters \(got 49\)/ },
  { name: 'name with uppercase', text: withTemplate('').replace('name: web', 'name: Web'), path: 'metadata.name', line: 4, col: 9, message: /"Web" is not a DNS-1123 label \(lowercase letters/ },
  { name: 'label value not a string', text: withTemplate('').replace('name: web\n', 'name: web\n  labels: { tier: 1 }\n'), path: 'metadata.labels.tier', line: 5, col: 19, message: /must be a string \(got 1; quote it: "1"\)/ },
  { name: 'label key invalid', text: withTemplate('').replace('name: web\n', 'name: web\n  labels: { "-tier": x }\n'), path: 'metadata.labels["-tier"]', line: 5, col: 13, message: /not a valid label key/ },
  { name: 'resourceVersion as a number', text: withTemplate('').replace('name: web\n', 'name: web\n  resourceVersion: 42\n'), path: 'metadata.resourceVersion', line: 5, col: 20, message: /like "42" \(got 42\)/ },
  { name: 'memory 64MB', text: withTemplate('    resources: { memory: 64MB }\n'), path: 'spec.template.resources.memory', line: 8, col: 26, message: /"64MB" is not a memory quantity .*"64Mi"/ },
  { name: 'memory -1', text: withTemplate('    resources:\n      memory: -1\n'), path: 'spec.template.resources.memory', line: 9, col: 15, message: /"-1" is not a memory quantity .*"64Mi"/ },
  { name: 'memory 0', text: withTemplate('    resources:\n      memory: 0\n'), path: 'spec.template.resources.memory', line: 9, col: 15, message: /greater than 0.*"64Mi"/ },
  { name: 'cpu -1', text: withTemplate('    resources:\n      cpu: -1\n'), path: 'spec.template.resources.cpu', line: 9, col: 12, message: /"-1" is not a cpu quantity .*"500m"/ },
  { name: 'cpu 0', text: withTemplate('    resources:\n      cpu: 0\n'), path: 'spec.template.resources.cpu', line: 9, col: 12, message: /greater than 0.*"500m"/ },
  { name: 'pids 0', text: withTemplate('    resources: { pids: 0 }\n'), path: 'spec.template.resources.pids', line: 8, col: 24, message: /integer between 1 and \d+ \(got 0\)/ },
  { name: 'replicas 3.5', text: withTemplate('', '  replicas: 3.5\n'), path: 'spec.replicas', line: 8, col: 13, message: /^must be an integer between 0 and 10000 \(got 3.5\)$/ },
  { name: 'replicas "three"', text: withTemplate('', '  replicas: three\n'), path: 'spec.replicas', line: 8, col: 13, message: /^must be an integer between 0 and 10000 \(got "three"\)$/ },
  { name: 'replicas 10001', text: withTemplate('', '  replicas: 10001\n'), path: 'spec.replicas', line: 8, col: 13, message: /between 0 and 10000 \(got 10001\)/ },
  { name: 'replicas with mode global', text: withTemplate('', '  mode: global\n  replicas: 2\n'), path: 'spec.replicas', line: 9, col: 13, message: /must not be given with mode "global"/ },
  { name: 'unknown mode', text: withTemplate('', '  mode: daemon\n'), path: 'spec.mode', line: 8, col: 9, message: /one of "replicated", "global" \(got "daemon"\)/ },
  { name: 'env value a number', text: withTemplate('    env:\n      PORT: 8080\n'), path: 'spec.template.env.PORT', line: 9, col: 13, message: /must be a string \(got 8080; quote it: "8080"\)/ },
  { name: 'env value a boolean', text: withTemplate('    env: { DEBUG: true }\n'), path: 'spec.template.env.DEBUG', line: 8, col: 19, message: /quote it: "true"/ },
  { name: 'env name invalid', text: withTemplate('    env:\n      1PORT: "8080"\n'), path: 'spec.template.env["1PORT"]', line: 9, col: 7, message: /not a valid variable name/ },
  { name: 'command empty', text: withTemplate('    command: []\n'), path: 'spec.template.command', line: 8, col: 14, message: /non-empty list of strings.*\(got an empty list\)/ },
  { name: 'command with a number', text: withTemplate('    command: ["sleep", 5]\n'), path: 'spec.template.command[1]', line: 8, col: 24, message: /quote it: "5"/ },
  { name: 'image empty', text: withTemplate('').replace('image: 127.0.0.1:5000/busybox:1', 'image: ""'), path: 'spec.template.image', line: 7, col: 12, message: /must not be empty/ },
  { name: 'image malformed', text: withTemplate('').replace('127.0.0.1:5000/busybox:1', '127.0.0.1:5000/BusyBox:1'), path: 'spec.template.image', line: 7, col: 12, message: /not an image reference \(use host\[:port\]\/repo/ },
  { name: 'image without host or tag', text: withTemplate('').replace('127.0.0.1:5000/busybox:1', 'busybox'), path: 'spec.template.image', line: 7, col: 12, message: /no registry host, tag or digest/ },
  { name: 'image OCI layout with a relative path', text: withTemplate('').replace('127.0.0.1:5000/busybox:1', 'oci:images/busybox'), path: 'spec.template.image', line: 7, col: 12, message: /oci:\/abs\/path/ },
  { name: 'image digest malformed', text: withTemplate('').replace('127.0.0.1:5000/busybox:1', '127.0.0.1:5000/busybox@sha256:abc'), path: 'spec.template.image', line: 7, col: 12, message: /malformed digest/ },
  { name: 'image missing', text: withSpec('  template:\n    runtime: container\n'), path: 'spec.template.image', line: 7, col: 5, message: /^is required$/ },
  { name: 'imagePull unknown', text: withTemplate('    imagePull: never\n'), path: 'spec.template.imagePull', line: 8, col: 16, message: /^must be one of "ifNotPresent", "always" \(got "never"\)$/ },
  {
    name: 'imageDigest written by hand (the control plane pins it)',
    text: withTemplate(`    imageDigest: sha256:${'a'.repeat(64)}\n`),
    path: 'spec.template.imageDigest',
    line: 8,
    col: 5,
    message: /^is not a known field: the control plane pins the digest at apply \(shown as status\.imageDigest\); to pin an image yourself, write image: "host\/repo@sha256:…"$/,
  },
  { name: 'template not a mapping', text: withSpec('  template: web\n'), path: 'spec.template', line: 6, col: 13, message: /must be a mapping \(got "web"\)/ },
  { name: 'hostPort used twice', text: withTemplate('    ports:\n      - { containerPort: 80, hostPort: 18080 }\n      - { containerPort: 81, hostPort: 18080 }\n'), path: 'spec.template.ports[1].hostPort', line: 10, col: 40, message: /18080\/tcp is already published by ports\[0\]/ },
  { name: 'containerPort out of range', text: withTemplate('    ports: [ { containerPort: 70000 } ]\n'), path: 'spec.template.ports[0].containerPort', line: 8, col: 31, message: /between 1 and 65535 \(got 70000\)/ },
  { name: 'port protocol unknown', text: withTemplate('    ports: [ { containerPort: 53, protocol: sctp } ]\n'), path: 'spec.template.ports[0].protocol', line: 8, col: 45, message: /one of "tcp", "udp" \(got "sctp"\)/ },
  { name: 'port item not a mapping', text: withTemplate('    ports: [ 8080 ]\n'), path: 'spec.template.ports[0]', line: 8, col: 14, message: /must be a mapping \(got 8080\)/ },
  { name: 'vm with runtime container', text: withTemplate('    vm: { vcpus: 1 }\n'), path: 'spec.template.vm', line: 8, col: 9, message: /only allowed with runtime "vm"/ },
  { name: 'vcpus out of range', text: withTemplate('    runtime: vm\n    vm: { vcpus: 65 }\n'), path: 'spec.template.vm.vcpus', line: 9, col: 18, message: /between 1 and 64 \(got 65\)/ },
  { name: 'volume name invalid', text: withTemplate('    volumes: [ { name: Data, mountPath: /data } ]\n'), path: 'spec.template.volumes[0].name', line: 8, col: 24, message: /DNS-1123 label.*\(got "Data"\)/ },
  { name: 'volume mountPath relative', text: withTemplate('    volumes: [ { name: data, mountPath: data } ]\n'), path: 'spec.template.volumes[0].mountPath', line: 8, col: 41, message: /absolute path like "\/data" \(got "data"\)/ },
  { name: 'volume mountPath twice', text: withTemplate('    volumes:\n      - { name: a, mountPath: /data }\n      - { name: b, mountPath: /data }\n'), path: 'spec.template.volumes[1].mountPath', line: 10, col: 31, message: /"\/data" is already used by volumes\[0\]/ },
  { name: 'healthCheck without exec', text: withTemplate('    healthCheck: { interval: 5s }\n'), path: 'spec.template.healthCheck.exec', line: 8, col: 18, message: /^is required$/ },
  { name: 'healthCheck interval not a duration', text: withTemplate('    healthCheck: { exec: ["true"], interval: 5 }\n'), path: 'spec.template.healthCheck.interval', line: 8, col: 46, message: /duration string like "500ms"/ },
  { name: 'stopGracePeriod malformed', text: withTemplate('    stopGracePeriod: 10 seconds\n'), path: 'spec.template.stopGracePeriod', line: 8, col: 22, message: /"10 seconds" is not a duration/ },
  { name: 'restart condition unknown', text: withTemplate('', '  restartPolicy: { condition: always }\n'), path: 'spec.restartPolicy.condition', line: 8, col: 31, message: /one of "any", "on-failure", "none" \(got "always"\)/ },
  {
    name: 'start-first with a hostPort',
    text: withTemplate('    ports: [ { containerPort: 80, hostPort: 18080 } ]\n', '  update: { order: start-first }\n'),
    path: 'spec.update.order',
    line: 9,
    col: 20,
    message: /"start-first" cannot be used with a hostPort \(ports\[0\] publishes 18080\/tcp\).*use "stop-first"$/,
  },
  { name: 'restart maxDelay below delay', text: withTemplate('', '  restartPolicy: { delay: 10s, maxDelay: 5s }\n'), path: 'spec.restartPolicy.maxDelay', line: 8, col: 42, message: /at least delay "10s" \(got "5s"\)/ },
  { name: 'update failureAction unknown', text: withTemplate('', '  update: { failureAction: explode }\n'), path: 'spec.update.failureAction', line: 8, col: 28, message: /"pause", "continue", "rollback"/ },
  { name: 'update order unknown', text: withTemplate('', '  update: { order: random }\n'), path: 'spec.update.order', line: 8, col: 20, message: /"stop-first", "start-first"/ },
  { name: 'update parallelism negative', text: withTemplate('', '  update: { parallelism: -1 }\n'), path: 'spec.update.parallelism', line: 8, col: 26, message: /integer ≥ 0 \(got -1\)/ },
  { name: 'update maxFailureRatio above 1', text: withTemplate('', '  update: { maxFailureRatio: 1.5 }\n'), path: 'spec.update.maxFailureRatio', line: 8, col: 30, message: /^must be a number between 0 and 1 \(got 1.5\)$/ },
  { name: 'update maxFailureRatio a percentage string', text: withTemplate('', '  update:\n    maxFailureRatio: "10%"\n'), path: 'spec.update.maxFailureRatio', line: 9, col: 22, message: /^must be a number between 0 and 1 \(got "10%"\)$/ },
  { name: 'update maxFailureRatio misspelt', text: withTemplate('', '  update: { maxFailureRate: 0.5 }\n'), path: 'spec.update.maxFailureRate', line: 8, col: 13, message: /^is not a known field \(did you mean "maxFailureRatio"\?\)$/ },
  { name: 'rollback maxFailureRatio negative', text: withTemplate('', '  rollback: { maxFailureRatio: -0.1 }\n'), path: 'spec.rollback.maxFailureRatio', line: 8, col: 32, message: /^must be a number between 0 and 1 \(got -0.1\)$/ },
  { name: 'rollback failureAction rollback', text: withTemplate('', '  rollback: { failureAction: rollback }\n'), path: 'spec.rollback.failureAction', line: 8, col: 30, message: /^cannot be "rollback": a rollback cannot itself roll back; use "pause" or "continue"$/ },
  { name: 'rollback failureAction unknown', text: withTemplate('', '  rollback: { failureAction: explode }\n'), path: 'spec.rollback.failureAction', line: 8, col: 30, message: /^must be one of "pause", "continue" \(got "explode"\)$/ },
  { name: 'rollback parallelism negative', text: withTemplate('', '  rollback: { parallelism: -1 }\n'), path: 'spec.rollback.parallelism', line: 8, col: 28, message: /integer ≥ 0 \(got -1\)/ },
  { name: 'rollback monitor malformed', text: withTemplate('', '  rollback: { monitor: 5 seconds }\n'), path: 'spec.rollback.monitor', line: 8, col: 24, message: /"5 seconds" is not a duration/ },
  {
    name: 'rollback start-first with a hostPort',
    text: withTemplate('    ports: [ { containerPort: 80, hostPort: 18080 } ]\n', '  rollback: { order: start-first }\n'),
    path: 'spec.rollback.order',
    line: 9,
    col: 22,
    message: /"start-first" cannot be used with a hostPort \(ports\[0\] publishes 18080\/tcp\).*use "stop-first"$/,
  },
  { name: 'unknown field in rollback', text: withTemplate('', '  rollback: { timeout: 5s }\n'), path: 'spec.rollback.timeout', line: 8, col: 15, message: /^is not a known field \(known fields: parallelism, delay, monitor, maxFailureRatio, failureAction, order\)$/ },
  { name: 'rollback not a mapping', text: withTemplate('', '  rollback: pause\n'), path: 'spec.rollback', line: 8, col: 13, message: /^must be a mapping \(got "pause"\)$/ },
  { name: 'constraint malformed', text: withTemplate('', '  placement:\n    constraints: ["node.labels.zone = a"]\n'), path: 'spec.placement.constraints[0]', line: 9, col: 19, message: /not a constraint \(use "node.labels.KEY == VALUE"/ },
  { name: 'placement strategy unknown', text: withTemplate('', '  placement: { strategy: packed }\n'), path: 'spec.placement.strategy', line: 8, col: 26, message: /"spread", "binpack" \(got "packed"\)/ },
  { name: 'maxPerNode negative', text: withTemplate('', '  placement: { maxPerNode: -1 }\n'), path: 'spec.placement.maxPerNode', line: 8, col: 28, message: /integer ≥ 0 \(got -1\)/ },
  { name: 'reserved key', text: withTemplate('    env: { constructor: x }\n'), path: 'spec.template.env.constructor', line: 8, col: 12, message: /reserved name/ },
];
