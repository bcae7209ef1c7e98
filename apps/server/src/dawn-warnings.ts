import { spawn } from 'node:child_process';
import { constants } from 'node:os';

// Dawn prints these from C++ (fprintf to fd 2) when it enumerates a Vulkan adapter whose limits
// exceed what Dawn can allocate; they describe Dawn's internals, not anything a user can change.
const DAWN_STARTUP_WARNING =
  /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;
const WARNING_PREFIX = 'Warning: ';

// Set in the child so it does not re-spawn itself, and so it still draws progress in place when
// the parent's stderr (now behind a pipe) is a terminal.
const CHILD_ENV = 'LLM_DAWN_WARNINGS_FILTERED';
const TTY_ENV = 'LLM_STDERR_IS_TTY';

export function isFilteredChild(): boolean {
  return process.env[CHILD_ENV] === '1';
}

/** Whether the user's stderr is a terminal, also when a parent process filters it. */
export function stderrIsTerminal(): boolean {
  return process.stderr.isTTY === true || process.env[TTY_ENV] === '1';
}

/**
 * A line filter that drops exactly Dawn's startup warnings. Text that cannot begin such a line is
 * passed on at once, so progress redrawn with '\r' shows without waiting for a newline.
 */
export function dawnWarningFilter(write: (text: string) => void): { push(chunk: string): void; end(): void } {
  let pending = '';
  // False after part of a line went out unfiltered: the rest of that line is not a line start.
  let atLineStart = true;
  return {
    push(chunk) {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        if (!atLineStart || !DAWN_STARTUP_WARNING.test(line)) write(`${line}\n`);
        pending = pending.slice(newline + 1);
        atLineStart = true;
      }
      const couldBeWarning = WARNING_PREFIX.startsWith(pending) || pending.startsWith(WARNING_PREFIX);
      if (pending !== '' && !(atLineStart && couldBeWarning)) {
        write(pending);
        pending = '';
        atLineStart = false;
      }
    },
    end() {
      if (pending !== '') write(pending);
      pending = '';
    },
  };
}

/**
 * Runs this CLI again in a child whose stderr passes through `dawnWarningFilter`: Dawn writes
 * natively, below anything Node could intercept in-process. Resolves to the child's exit code.
 */
export function runWithDawnWarningsHidden(argv: string[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: { ...process.env, [CHILD_ENV]: '1', ...(process.stderr.isTTY ? { [TTY_ENV]: '1' } : {}) },
  });
  const filter = dawnWarningFilter((text) => process.stderr.write(text));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => filter.push(chunk));
  // Ctrl-C reaches the child through the terminal's process group; the parent waits for it.
  const ignore = () => {};
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', ignore).on('SIGTERM', forward).on('SIGHUP', forward);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      filter.end();
      process.off('SIGINT', ignore).off('SIGTERM', forward).off('SIGHUP', forward);
      // A child ended by a signal exits the shell way: 128 + the signal's number.
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}
