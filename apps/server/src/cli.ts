#!/usr/bin/env -S node --import tsx
import { exitQuietlyOnClosedPipe } from './closed-pipe.js';
import { runCli } from './run-cli.js';

exitQuietlyOnClosedPipe();
// Dawn may keep the process alive after the work is done: exit explicitly.
runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`llm: internal error: ${String(error)}\n`);
    process.exit(1);
  },
);
