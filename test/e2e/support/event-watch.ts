import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** One line of `berth events -w -o json` (docs/api.md, "Events"); the fields the tests read. */
export interface EventJson {
  readonly id: string;
  readonly time: string;
  readonly kind: 'service' | 'task' | 'node' | 'rollout';
  readonly object: string;
  readonly reason: string;
  readonly message: string;
  readonly service?: string;
  readonly node?: string;
}

/**
 * A running `berth events -w -o json`, as an operator would keep it open in a terminal: every
 * event it printed, in the order it printed them.
 */
export class EventWatch {
  private static readonly running = new Set<EventWatch>();
  private readonly seen: EventJson[] = [];
  private partial = '';
  private stderr = '';

  /** Stops every watch still running: for an afterEach, so a failed test leaves no process. */
  static async stopAll(): Promise<void> {
    await Promise.all([...EventWatch.running].map((w) => w.stop()));
  }

  /** `after`: the newest event id when it started (it prints only what follows). */
  constructor(
    private readonly child: ChildProcess,
    readonly after?: string,
  ) {
    EventWatch.running.add(this);
    child.once('close', () => EventWatch.running.delete(this));
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (this.partial + chunk).split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') this.seen.push(JSON.parse(line) as EventJson);
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
  }

  get events(): readonly EventJson[] {
    return this.seen;
  }

  /** What it said on stderr (lost connections, reconnects). */
  get diagnostics(): string {
    return this.stderr;
  }

  /** `kind/object Reason` of each event printed so far, optionally only those `pick` keeps. */
  summary(pick: (e: EventJson) => boolean = () => true): string[] {
    return this.seen.filter(pick).map((e) => `${e.kind}/${e.object} ${e.reason}`);
  }

  /** Waits until an event matching `match` was printed; returns it. */
  async until(what: string, match: (e: EventJson) => boolean, timeoutMs = 60_000): Promise<EventJson> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.seen.find(match);
      if (hit) return hit;
      if (this.child.exitCode !== null) throw new Error(`berth events -w exited (${this.child.exitCode}) before ${what}: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`berth events -w printed no ${what} in ${timeoutMs} ms; it printed:\n${this.summary().join('\n')}\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Ctrl-C, as a user ends it; resolves with its exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const closed = once(this.child, 'close');
    this.child.kill('SIGINT');
    const [code] = (await closed) as [number | null];
    return code;
  }
}
