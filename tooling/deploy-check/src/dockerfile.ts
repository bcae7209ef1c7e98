/** One Dockerfile instruction, continuation lines joined. */
export interface Instruction {
  /** Upper case: FROM, RUN, COPY... */
  readonly keyword: string;
  /** The rest of the line after the keyword, continuations joined with a space. */
  readonly args: string;
  /** The stage the instruction belongs to (its FROM's `AS` name, or its index), '' before any FROM. */
  readonly stage: string;
  /** 1-based line where the instruction starts. */
  readonly line: number;
}

/**
 * Splits a Dockerfile into instructions: comment lines (parser directives included) are dropped,
 * a trailing backslash continues the instruction on the next line, and comment lines inside a
 * continuation are skipped as Docker does. Heredocs are not supported (this recipe has none).
 */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let stage = '';
  let stageCount = 0;
  let pending: { parts: string[]; line: number } | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const continues = line.endsWith('\\');
    const part = continues ? line.slice(0, -1).trim() : line;
    if (pending === undefined) pending = { parts: [], line: i + 1 };
    pending.parts.push(part);
    if (continues) return;
    const whole = pending.parts.join(' ');
    const match = /^(\S+)\s*(.*)$/.exec(whole)!;
    const keyword = match[1]!.toUpperCase();
    const args = match[2]!;
    if (keyword === 'FROM') {
      const as = /\s+AS\s+(\S+)\s*$/i.exec(args);
      stage = as ? as[1]! : String(stageCount);
      stageCount += 1;
    }
    instructions.push({ keyword, args, stage, line: pending.line });
    pending = undefined;
  });
  if (pending !== undefined) throw new Error(`Dockerfile line ${pending.line}: continuation never ends`);
  return instructions;
}

/** The exec form's words (`["a", "b"]`), or undefined when the arguments are in shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.trimStart().startsWith('[')) return undefined;
  const words: unknown = JSON.parse(args);
  if (!Array.isArray(words) || !words.every((w) => typeof w === 'string')) {
    throw new Error(`not a JSON array of strings: ${args}`);
  }
  return words;
}

/** Splits leading `--flag=value` options from an instruction's arguments. */
export function splitFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args.trim();
  for (let m = /^--([\w-]+)(?:=(\S*))?\s+/.exec(rest); m; m = /^--([\w-]+)(?:=(\S*))?\s+/.exec(rest)) {
    flags[m[1]!] = m[2] ?? '';
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

/** The sources and destination of a COPY or ADD, flags removed. */
export function copyPaths(args: string): {
  flags: Record<string, string>;
  sources: string[];
  destination: string;
} {
  const { flags, rest } = splitFlags(args);
  const words = execForm(rest) ?? rest.split(/\s+/);
  if (words.length < 2) throw new Error(`COPY needs a source and a destination: ${args}`);
  return { flags, sources: words.slice(0, -1), destination: words.at(-1)! };
}

/** The ARG defaults declared before the first FROM, which FROM lines may use. */
export function globalArgs(instructions: readonly Instruction[]): Record<string, string> {
  const args: Record<string, string> = {};
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') break;
    if (instruction.keyword !== 'ARG') continue;
    const m = /^([\w]+)(?:=(.*))?$/.exec(instruction.args.trim());
    if (m && m[2] !== undefined) args[m[1]!] = m[2];
  }
  return args;
}

/** `KEY=value` pairs of ENV instructions (the `ENV KEY value` form too), in order. */
export function envPairs(args: string): [string, string][] {
  const trimmed = args.trim();
  if (!/^\w+=/.test(trimmed)) {
    const m = /^(\w+)\s+(.*)$/.exec(trimmed);
    return m ? [[m[1]!, m[2]!]] : [];
  }
  return [...trimmed.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)].map((m) => [
    m[1]!,
    m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!,
  ]);
}
