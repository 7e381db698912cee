import { setTimeout as sleep } from 'node:timers/promises';
import type { RunResult } from './berth-cli';
import type { ServiceSketch, TaskJson } from './cluster';
import type { LabCluster } from './lab-cluster';

/** Task states after which nothing of the task runs (docs/task-model.md). */
export const TERMINAL_STATES: ReadonlySet<string> = new Set(['complete', 'failed', 'shutdown', 'rejected', 'orphaned']);

/** Meant to run and reported running. */
export const isRunning = (t: TaskJson): boolean => t.spec.desiredState === 'running' && t.status.state === 'running';

/** A check of the task set: what is wrong (empty when nothing is), and the service's running tasks as read. */
export interface TaskSetCheck {
  readonly problems: string[];
  readonly running: TaskJson[];
}

/**
 * Why the cluster is not exactly in the steady state "`replicas` tasks of `service` run": every
 * one of them meant to run and reported running, no other live task of the service (nothing in
 * flight, no slot twice), and on every host the live runc containers are exactly the running
 * tasks (of any service) placed there — no orphan container, no task running only on paper.
 */
export async function checkTaskSet(cluster: LabCluster, want: { service: string; replicas: number }): Promise<TaskSetCheck> {
  const problems: string[] = [];
  const all = await cluster.cli.tasks();
  const mine = all.filter((t) => t.metadata.service === want.service);
  const running = mine.filter(isRunning);
  if (running.length !== want.replicas) problems.push(`${want.service}: ${running.length} tasks running, want ${want.replicas}`);
  const live = mine.filter((t) => !TERMINAL_STATES.has(t.status.state));
  for (const t of live.filter((x) => !isRunning(x))) {
    problems.push(`${t.metadata.name}: ${t.status.state} (desired ${t.spec.desiredState}) on ${t.status.node ?? 'no node'}`);
  }
  const bySlot = new Map<number, string[]>();
  for (const t of live) bySlot.set(t.metadata.slot, [...(bySlot.get(t.metadata.slot) ?? []), t.metadata.name]);
  for (const [slot, ids] of bySlot) if (ids.length > 1) problems.push(`${want.service} slot ${slot} has ${ids.length} live tasks: ${ids.join(', ')}`);
  for (const n of cluster.nodes) {
    const expected = all.filter((t) => isRunning(t) && t.status.node === n.name).map((t) => t.metadata.name).sort();
    const actual = (await cluster.runcContainers(n.index)).sort();
    if (expected.join() !== actual.join()) problems.push(`${n.name}: runc runs [${actual.join(', ')}], tasks running there: [${expected.join(', ')}]`);
  }
  return { problems, running };
}

/**
 * Waits (up to `deadlineMs`) until checkTaskSet finds nothing wrong twice in a row, a second
 * apart (statuses and containers settle a moment apart, and a steady state stays), and returns
 * the service's running tasks; throws with the problems of the last check.
 */
export async function settledTaskSet(cluster: LabCluster, want: { service: string; replicas: number }, deadlineMs = 90_000): Promise<TaskJson[]> {
  const until = Date.now() + deadlineMs;
  let clean = 0;
  for (;;) {
    const check = await checkTaskSet(cluster, want).catch((e: Error): TaskSetCheck => ({ problems: [e.message], running: [] }));
    clean = check.problems.length === 0 ? clean + 1 : 0;
    if (clean === 2) return check.running;
    if (Date.now() > until) throw new Error(`the task set did not settle within ${deadlineMs / 1000} s:\n${check.problems.join('\n') || '(it was right once, then changed)'}`);
    await sleep(clean > 0 ? 1000 : 500);
  }
}

/** How many of `tasks` run on each node, in node order. */
export function spreadOf(cluster: LabCluster, tasks: readonly TaskJson[]): number[] {
  return cluster.nodes.map((n) => tasks.filter((t) => t.status.node === n.name).length);
}

/** Throws with the command's output unless it exited 0. */
function mustSucceed(what: string, r: RunResult): void {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${r.stdout}${r.stderr}`);
}

/**
 * Puts the lab back to its baseline after a scenario, whatever it left: every fault undone
 * (LabCluster.heal), every node active, no service but `web`, and web's replicas spread evenly
 * over the nodes — re-created when they are not (a failover leaves them on the survivors; berth,
 * like Swarm, does not move running tasks back). Returns web's running tasks.
 */
export async function restoreBaseline(cluster: LabCluster, web: ServiceSketch): Promise<TaskJson[]> {
  const want = { service: web.name, replicas: web.replicas ?? 1 };
  const even = cluster.nodes.map(() => want.replicas / cluster.nodes.length).join();
  await cluster.heal();
  for (const n of await cluster.cli.nodes()) {
    if (n.spec.availability !== 'active') mustSucceed(`berth node activate ${n.metadata.name}`, await cluster.cli.run(['node', 'activate', n.metadata.name]));
  }
  for (const s of await cluster.cli.services()) {
    if (s.metadata.name === web.name) continue;
    mustSucceed(`berth delete service ${s.metadata.name}`, await cluster.cli.run(['delete', 'service', s.metadata.name]));
    await cluster.cli.tasksGone(s.metadata.name);
  }
  const exists = (await cluster.cli.service(web.name)) !== undefined;
  const settled = exists ? await settledTaskSet(cluster, want, 60_000).catch(() => undefined) : undefined;
  if (settled && spreadOf(cluster, settled).join() === even) return settled;
  if (exists) {
    mustSucceed(`berth delete service ${web.name}`, await cluster.cli.run(['delete', 'service', web.name]));
    await cluster.cli.tasksGone(web.name);
  }
  mustSucceed(`berth apply ${web.name} --wait`, await cluster.cli.apply(web, ['--wait']));
  const tasks = await settledTaskSet(cluster, want);
  if (spreadOf(cluster, tasks).join() !== even) {
    const nodes = (await cluster.cli.nodes()).map((n) => `${n.metadata.name}: ${n.status.state}, ${n.spec.availability}`);
    throw new Error(`${web.name} is spread ${spreadOf(cluster, tasks).join('/')} after a fresh apply, want ${even.replaceAll(',', '/')} (nodes: ${nodes.join('; ')})`);
  }
  return tasks;
}
