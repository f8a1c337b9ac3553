/**
 * Prints the `qbsync` command tree as JSON on stdout, for the CLI fuzz (test/security/cli-fuzz.test.ts): every
 * leaf command with its arguments and options, and what each option's value parser accepts (probed with sample
 * values), plus the command names `qbsync --help` lists (so the tree and the help cannot drift apart).
 *
 * One process instead of one `--help` per command: a CLI start costs about a second of CPU.
 * Run: node --import tsx test/security/cli-tree.ts
 */
import type { Argument, Command, Option } from 'commander';

export type ValueKind = 'flag' | 'int' | 'number' | 'date' | 'entity' | 'choice' | 'text';

export interface OptionInfo {
  long: string;
  short?: string;
  flags: string;
  kind: ValueKind;
  /** requiredOption(): must be given. */
  mandatory: boolean;
  /** Takes a value (`<v>`); optional values (`[v]`) count as taking one. */
  takesValue: boolean;
  negate: boolean;
  choices?: string[];
  /** For int / number: the smallest and largest value the parser accepts (probed). */
  min?: number;
  max?: number;
}

export interface ArgInfo {
  name: string;
  required: boolean;
  variadic: boolean;
  choices?: string[];
}

export interface CommandInfo {
  /** Words after `qbsync`: ['user', 'add']. */
  path: string[];
  args: ArgInfo[];
  options: OptionInfo[];
}

export interface CliTree {
  helpCommands: string[];
  globalOptions: OptionInfo[];
  commands: CommandInfo[];
}

function accepts(opt: Option, value: string): boolean {
  try {
    (opt as unknown as { parseArg(v: string, prev: unknown): unknown }).parseArg(value, undefined);
    return true;
  } catch {
    return false;
  }
}

/** The range an int/number parser accepts, by bisection on powers of ten then exact search. */
function bound(opt: Option, dir: 1 | -1): number | undefined {
  let inside = dir === 1 ? 1 : 1;
  if (!accepts(opt, String(inside))) inside = 0;
  if (!accepts(opt, String(inside))) return undefined;
  let outside = inside;
  for (let i = 0; i < 20; i++) {
    const next = dir === 1 ? (outside === 0 ? 1 : outside * 10) : outside === 0 ? -1 : outside > 0 ? 0 : outside * 10;
    if (!accepts(opt, String(next))) {
      outside = next;
      break;
    }
    inside = next;
    outside = next;
    if (i === 19) return undefined; // unbounded
  }
  if (outside === inside) return undefined;
  while (Math.abs(outside - inside) > 1) {
    const mid = Math.trunc((inside + outside) / 2);
    if (accepts(opt, String(mid))) inside = mid;
    else outside = mid;
  }
  return inside;
}

function optionInfo(opt: Option): OptionInfo {
  const o = opt as Option & { parseArg?: unknown; argChoices?: string[]; mandatory: boolean; required: boolean; optional: boolean; negate: boolean };
  const takesValue = o.required || o.optional;
  let kind: ValueKind = 'text';
  if (!takesValue) kind = 'flag';
  else if (o.argChoices) kind = 'choice';
  else if (o.parseArg) {
    if (accepts(opt, 'tests') && !accepts(opt, 'widgets')) kind = 'entity';
    else if (accepts(opt, '2024-01-31') && !accepts(opt, '2024-02-30')) kind = 'date';
    else if (accepts(opt, '1') && !accepts(opt, 'abc')) kind = accepts(opt, '0.5') ? 'number' : 'int';
  }
  const info: OptionInfo = {
    long: o.long ?? o.short ?? o.flags, short: o.short, flags: o.flags, kind, mandatory: Boolean(o.mandatory), takesValue, negate: Boolean(o.negate),
  };
  if (o.argChoices) info.choices = [...o.argChoices];
  if (kind === 'int' || kind === 'number') {
    info.min = bound(opt, -1);
    info.max = bound(opt, 1);
    // A parser with a minimum of 1 refuses 0.5 yet may take fractions or exponents: then it is a number.
    if (kind === 'int' && (accepts(opt, `${(info.min ?? 0) + 1}.5`) || accepts(opt, '1e0'))) kind = 'number';
    info.kind = kind;
  }
  return info;
}

function argInfo(a: Argument): ArgInfo {
  const x = a as Argument & { argChoices?: string[] };
  return { name: a.name(), required: a.required, variadic: a.variadic, ...(x.argChoices ? { choices: [...x.argChoices] } : {}) };
}

function walk(cmd: Command, path: string[], out: CommandInfo[]): void {
  const subs = cmd.commands.filter((c) => c.name() !== 'help');
  if (!subs.length) {
    out.push({ path, args: cmd.registeredArguments.map(argInfo), options: cmd.options.map(optionInfo) });
    return;
  }
  for (const c of subs) walk(c, [...path, c.name()], out);
}

export async function cliTree(): Promise<CliTree> {
  // cli/main.ts parses process.argv when imported: let it print the top-level help (captured), then build the
  // same program again through its exported buildProgram().
  const argv = process.argv;
  process.argv = [argv[0], 'qbsync', '--help'];
  let help = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    help += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  let mod: { buildProgram(): Command };
  try {
    mod = (await import('../../cli/main.js')) as unknown as { buildProgram(): Command };
  } finally {
    process.stdout.write = write;
    process.argv = argv;
    process.exitCode = 0;
  }
  const helpCommands = [...(help.split('Commands:')[1] ?? '').matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]).filter((c) => c !== 'help');
  const program = mod.buildProgram();
  const commands: CommandInfo[] = [];
  for (const c of program.commands) walk(c, [c.name()], commands);
  return { helpCommands, globalOptions: program.options.map(optionInfo), commands };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/test\/security\//, '/test/security/'))) {
  process.stdout.write(JSON.stringify(await cliTree()) + '\n');
}
