import { execFileSync } from 'node:child_process';

/**
 * Suites that need a host tool (etcd, docker, runc, …) call `requireTools` at the top of their
 * file. Outside CI a missing tool skips the suite with a note; under CI=true it is a failure —
 * a CI run must never pass by skipping what it was meant to prove.
 */
export function missingTools(tools: readonly string[]): string[] {
  return tools.filter((t) => {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
}

export const isCI = process.env.CI === 'true';

/** Returns true when the suite can run; throws under CI when it cannot. */
export function requireTools(tools: readonly string[], opts: { root?: boolean } = {}): boolean {
  const problems = missingTools(tools).map((t) => `${t} is not installed (run deploy/install-host-deps.sh)`);
  if (opts.root && process.getuid?.() !== 0) problems.push('this suite must run as root');
  if (problems.length === 0) return true;
  const message = `prerequisites missing: ${problems.join('; ')}`;
  if (isCI) throw new Error(message);
  console.warn(`skipping: ${message}`);
  return false;
}
