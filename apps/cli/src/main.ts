#!/usr/bin/env node
import { once } from 'node:events';
import { loadEnvironment } from './environment';
import { readAllStdin } from './input/sources';
import { runCli } from './program';

let interrupted: AbortController | undefined;

/** The first SIGINT/SIGTERM aborts the signal (the command ends cleanly); a second one exits at once. */
function interruption(): AbortSignal {
  if (interrupted) return interrupted.signal;
  const ctl = new AbortController();
  interrupted = ctl;
  const onSignal = (signal: NodeJS.Signals) => {
    if (ctl.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
    ctl.abort(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return ctl.signal;
}

// `berth logs web | head` closes the pipe early: that ends the command, it is not a crash.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

const io = {
  out: (text: string) => void process.stdout.write(`${text}\n`),
  err: (text: string) => void process.stderr.write(`${text}\n`),
  errRaw: (text: string) => void process.stderr.write(text),
  stderrIsTty: process.stderr.isTTY === true,
  interruption,
  readStdin: readAllStdin,
  now: () => new Date(),
  outDrained: () => (process.stdout.writableNeedDrain ? once(process.stdout, 'drain').then(() => undefined) : Promise.resolve()),
};

// Exit explicitly once output is flushed: idle HTTP keep-alive sockets or a stopped server's
// leftovers must not keep the process alive.
void runCli(process.argv, loadEnvironment(), io).then((code) => {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
});
