import { stderrIsTerminal } from './dawn-warnings.js';

/** A progress callback that redraws one line on stderr (a plain line per update when not a TTY). */
export function progressLine(label: string): (done: number, total: number) => void {
  const tty = stderrIsTerminal();
  let lastPct = -1;
  return (done, total) => {
    const pct = total > 0 ? Math.floor((done * 100) / total) : 100;
    if (pct === lastPct) return;
    if (!tty && pct !== 100 && pct - lastPct < 25) return;
    lastPct = pct;
    const line = `[llm] ${label} ${pct}% (${done}/${total})`;
    process.stderr.write(tty ? `\r${line}${done >= total ? '\n' : ''}` : `${line}\n`);
  };
}

/** Download progress on stderr, one line per file, in MiB (the total may be unknown). */
export function downloadProgress(): (p: { file: string; receivedBytes: number; totalBytes: number | undefined }) => void {
  const lines = new Map<string, (done: number, total: number) => void>();
  return ({ file, receivedBytes, totalBytes }) => {
    let line = lines.get(file);
    if (!line) lines.set(file, (line = progressLine(`downloading ${file} (MiB)`)));
    const mib = (bytes: number) => Math.floor(bytes / 2 ** 20);
    line(mib(receivedBytes), mib(totalBytes ?? receivedBytes));
  };
}
