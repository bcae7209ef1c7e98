#!/usr/bin/env -S npx tsx
import { runCli } from './run-cli.js';

// Dawn may keep the process alive after the work is done: exit explicitly.
runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`llm: internal error: ${String(error)}\n`);
    process.exit(1);
  },
);
