#!/usr/bin/env node
import { loadEnvironment } from './environment';
import { readAllStdin } from './input/sources';
import { runCli } from './program';

const io = {
  out: (text: string) => void process.stdout.write(`${text}\n`),
  err: (text: string) => void process.stderr.write(`${text}\n`),
  readStdin: readAllStdin,
  now: () => new Date(),
};

// Exit explicitly once output is flushed: idle HTTP keep-alive sockets or a stopped server's
// leftovers must not keep the process alive.
void runCli(process.argv, loadEnvironment(), io).then((code) => {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
});
