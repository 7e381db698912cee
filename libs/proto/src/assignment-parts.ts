import { Assignment, type Assignments } from './gen/berth/agent/v1/agent';

/**
 * The largest message either side of a session sends or accepts: grpc-js's default receive limit,
 * set explicitly on both sides so they agree (docs/agent-protocol.md, "Message sizes").
 */
export const MAX_SESSION_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * A full assignment set whose assignments encode to more than this goes as several parts. One
 * assignment is at most a little more than a template (512 KiB, docs/api.md), so a part — one
 * assignment at least — always stays far below MAX_SESSION_MESSAGE_BYTES.
 */
export const ASSIGNMENT_PART_BYTES = 1024 * 1024;

/**
 * A node's full set → the Assignments messages that carry it, in order: one when it fits in
 * `budget` bytes (as before parts existed), else as many as needed, each with at least one
 * assignment, all with the same generation, `more` on every one but the last.
 */
export function fullSetParts(
  generation: number,
  upsert: readonly Assignment[],
  budget = ASSIGNMENT_PART_BYTES,
  size: (a: Assignment) => number = (a) => Assignment.encode(a).finish().length,
): Assignments[] {
  const groups: Assignment[][] = [[]];
  let used = 0;
  for (const a of upsert) {
    const bytes = size(a);
    const current = groups[groups.length - 1]!;
    if (current.length > 0 && used + bytes > budget) {
      groups.push([a]);
      used = bytes;
    } else {
      current.push(a);
      used += bytes;
    }
  }
  return groups.map((part, i) => ({ generation, full: true, upsert: part, remove: [], more: i < groups.length - 1 }));
}

/**
 * The agent's side: gathers the parts of a full set and hands it over whole, so the agent never
 * stops a task because it saw only the first part. One assembler per session (a broken session
 * drops an incomplete set: the next session sends a new one). Not thread-safe, not needed.
 */
export class FullSetAssembler {
  private pending: { generation: number; upsert: Assignment[] } | undefined;
  /** Increments that arrived while a full set was incomplete: they are newer, so they follow it. */
  private held: Assignments[] = [];

  /** One Assignments message in; out, the messages to act on now, in order (often none or one). */
  add(m: Assignments): Assignments[] {
    if (!m.full) {
      if (!this.pending) return [m];
      this.held.push(m);
      return [];
    }
    if (!this.pending || this.pending.generation !== m.generation) this.pending = { generation: m.generation, upsert: [] };
    this.pending.upsert.push(...m.upsert);
    if (m.more) return [];
    const whole: Assignments = { ...m, upsert: this.pending.upsert, more: false };
    const out = [whole, ...this.held];
    this.pending = undefined;
    this.held = [];
    return out;
  }

  /** True while parts of a full set have arrived but not its last. */
  get assembling(): boolean {
    return this.pending !== undefined;
  }
}
