/** Manifest texts shared by the specs. Line numbers in comments are 1-based. */

/** `spec:` is line 5; `body` starts on line 6. */
export const withSpec = (body: string): string =>
  `apiVersion: berth/v1\nkind: Service\nmetadata:\n  name: web\nspec:\n${body}`;

/** `template:` is line 6 and its image line 7; `body` (template fields) starts on line 8, then `after` (spec fields). */
export const withTemplate = (body: string, after = ''): string =>
  withSpec(`  template:\n    image: 127.0.0.1:5000/busybox:1\n${body}${after}`);

/**
 * The example of architecture.md §2 without its `vm: { vcpus: 1 }` line: that line is marked
 * "only with runtime: vm" while the example's runtime is container (see VM_LINE).
 */
export const ARCHITECTURE_EXAMPLE = `apiVersion: berth/v1
kind: Service
metadata:
  name: web                       # DNS-1123 label, unique
  labels: { tier: frontend }
spec:
  mode: replicated                # replicated | global (one task per eligible node)
  replicas: 3
  template:
    runtime: container            # container | vm
    image: 127.0.0.1:5000/busybox:1   # registry reference, or oci:/abs/path/to/layout:tag
    command: ["httpd", "-f", "-p", "8080"]   # overrides the image entrypoint+cmd when given
    env: { GREETING: hello }
    resources: { cpu: 500m, memory: 64Mi, pids: 256 }
    ports: [ { containerPort: 8080, hostPort: 18080, protocol: tcp } ]
    healthCheck: { exec: ["wget", "-qO-", "http://127.0.0.1:8080/"], interval: 5s, timeout: 2s, retries: 3, startPeriod: 2s }
    volumes: [ { name: data, mountPath: /data } ]     # node-local named volume, outlives tasks
  restartPolicy: { condition: any, delay: 1s, maxDelay: 30s, maxAttempts: 0 }   # any | on-failure | none
  update: { parallelism: 1, delay: 0s, monitor: 5s, failureAction: rollback, order: stop-first }
  placement: { constraints: ["node.labels.zone == a"], maxPerNode: 2, strategy: spread }  # spread | binpack
`;

/** The line architecture.md §2 has after `volumes:` (line 18 there); with runtime container it is refused. */
export const VM_LINE = '    vm: { vcpus: 1 }                                  # only with runtime: vm\n';

export const ARCHITECTURE_VERBATIM = ARCHITECTURE_EXAMPLE.replace(/(    volumes: .*\n)/, `$1${VM_LINE}`);
