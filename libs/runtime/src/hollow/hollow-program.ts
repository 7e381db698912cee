import type { LogStream } from '../driver';

/**
 * What a hollow task (or a command exec'd in one) does, in place of a process: print some lines,
 * then exit or run until stopped. Written as a command, so a service manifest can script it:
 *
 *   hollow run [--print out:TEXT | --print err:TEXT]... [--every MS] [--exit CODE] [--on-term CODE|ignore]
 *
 * Lines are printed `--every` ms apart (the first at once); `--exit` ends it after the last line,
 * else it runs until stopped. `--on-term` is what a stop request (SIGTERM) does: exit with CODE,
 * or nothing (the stop then kills it after the grace period, 137). Without it, a stop ends the
 * task at once with 143.
 */
export interface HollowProgram {
  readonly print: readonly (readonly [LogStream, string])[];
  readonly everyMs: number;
  readonly exit?: number;
  readonly onTerm: number | 'ignore';
}

/** What any command not starting with `hollow` (or none) does: runs quietly until stopped. */
export const IDLE: HollowProgram = { print: [], everyMs: 0, onTerm: 143 };

export type ParsedProgram = { ok: true; program: HollowProgram } | { ok: false; error: string };

const STREAMS: Readonly<Record<string, LogStream>> = { out: 'stdout', err: 'stderr' };

/** `hollow run …` → its program; any other command → IDLE; a malformed `hollow` command → why. */
export function parseHollowCommand(command: readonly string[] | undefined): ParsedProgram {
  if (!command || command[0] !== 'hollow') return { ok: true, program: IDLE };
  if (command[1] !== 'run') return { ok: false, error: `hollow: ${command[1] ?? '(nothing)'}: no such command (only "hollow run")` };
  const print: [LogStream, string][] = [];
  let everyMs = 0;
  let exit: number | undefined;
  let onTerm: number | 'ignore' = 143;
  for (let i = 2; i < command.length; i += 2) {
    const [flag, value] = [command[i], command[i + 1]];
    if (value === undefined) return { ok: false, error: `hollow run: ${flag} needs a value` };
    switch (flag) {
      case '--print': {
        const colon = value.indexOf(':');
        const stream = STREAMS[value.slice(0, colon)];
        if (colon < 0 || !stream) return { ok: false, error: `hollow run: --print wants out:TEXT or err:TEXT (got "${value}")` };
        print.push([stream, value.slice(colon + 1)]);
        break;
      }
      case '--every':
      case '--exit': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) return { ok: false, error: `hollow run: ${flag} wants a whole number (got "${value}")` };
        if (flag === '--every') everyMs = n;
        else exit = n;
        break;
      }
      case '--on-term': {
        const code = Number(value);
        if (value !== 'ignore' && (!Number.isInteger(code) || code < 0)) return { ok: false, error: `hollow run: --on-term wants CODE or ignore (got "${value}")` };
        onTerm = value === 'ignore' ? 'ignore' : code;
        break;
      }
      default:
        return { ok: false, error: `hollow run: unknown option ${flag}` };
    }
  }
  return { ok: true, program: { print, everyMs, ...(exit !== undefined ? { exit } : {}), onTerm } };
}

/** The command that makes a hollow task do `p` (parseHollowCommand's inverse). */
export function hollowCommand(p: Partial<HollowProgram>): string[] {
  const args = ['hollow', 'run'];
  for (const [stream, text] of p.print ?? []) args.push('--print', `${stream === 'stderr' ? 'err' : 'out'}:${text}`);
  if (p.everyMs) args.push('--every', String(p.everyMs));
  if (p.exit !== undefined) args.push('--exit', String(p.exit));
  if (p.onTerm !== undefined) args.push('--on-term', String(p.onTerm));
  return args;
}
