/**
 * CLI fuzz: every leaf command of `qbsync` (the tree `qbsync --help` lists, read by test/security/cli-tree.ts,
 * so a new command or option is fuzzed without touching this file) with unknown options, missing and
 * mandatory ones, values of the wrong type, out of range, bad dates, reversed ranges, injection and traversal
 * strings, very long values, bad and excess positional arguments.
 *
 * Each run must exit 2 with one line naming the problem (plus commander's "(run with --help for usage)"), no
 * stack trace, nothing on stdout; the data in raw, qbench and qbsync is unchanged and no file is written.
 *
 * A CLI start costs about a second of CPU: the default run takes a seeded sample (the unknown-option case of
 * every command plus a few of its other cases); QBSYNC_FUZZ_LONG=1 runs every case. QBSYNC_FUZZ_SEED replays.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { addUser, createApiToken } from '../../api/index.js';
import { startCli, type CliResult } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator } from '../helpers/sim.js';
import { captureText, formatFindings, registerTestSecret, secretFindings } from '../helpers/secret-sweep.js';
import { landAndTransform, testConfig } from '../api/fixture.js';
import type { ArgInfo, CliTree, CommandInfo, OptionInfo } from './cli-tree.js';
import { LONG, STACK, changedTables, dataChecksums, fuzzSeed, pool, prng } from './lib.js';

const run = promisify(execFile);

interface CliCase {
  id: string;
  args: string[];
  /** The first message line must contain one of these (the option or argument at fault). Empty: any message. */
  names: string[];
}

const HUGE = 'x'.repeat(100_000);
const INJECTION = ["' OR 1=1 --", '1; DROP TABLE qbench.tests', '../../etc/passwd', '$(id)'];

const BAD: Record<string, string[]> = {
  int: ['abc', '1.5', '99999999999999999999', '1e3', '0x10', 'NaN', '', '１２', '-', ...INJECTION, HUGE],
  number: ['abc', 'NaN', 'Infinity', '1e999', '', '１２', ...INJECTION, HUGE],
  date: ['2026-02-30', '2026-13-01', 'yesterday', '2026-1-1', '2026-01-01T25:00', '0000-00-00', '1767225600', '２０２６-01-01', '', "2026-01-01' OR 1=1 --", '2026-01-01; DROP TABLE qbench.tests', '../../etc/passwd', HUGE],
  entity: ['widgets', "tests' OR 1=1 --", 'tests; DROP TABLE qbench.tests', '../../etc/passwd', '', ',', 'tests,widgets', 'ｔｅｓｔｓ', HUGE],
  choice: ['nope', '', ...INJECTION, HUGE],
};

/** Free-text options: values that are wrong for what they name. Others get only the missing-value case. */
const BAD_TEXT: Record<string, string[]> = {
  '--tz': ['Mars/Olympus', "UTC' OR 1=1 --", '../../etc/passwd', '', HUGE],
  '--host': ["' OR 1=1 --", '../../etc/passwd', 'a b', '', '-1', HUGE],
  '--name': ['', ' ', 'x'.repeat(101), HUGE],
  '--out': ['', ' ', '<tmpdir>'],
  '--in': ['', ' ', '<tmpdir>'],
};

const BAD_ARG: Record<string, string[]> = {
  username: [...INJECTION, '', 'ａｄｍｉｎ', HUGE],
  cron: [...INJECTION, '99 * * * *', '* * *', '', HUGE],
  id: [...INJECTION, '', 'ffffffffffffffff', HUGE],
  'on|off': ['maybe', 'ON', '', ...INJECTION],
};

function validOption(o: OptionInfo, tmp: string): string {
  switch (o.kind) {
    case 'int':
    case 'number':
      return String(o.min ?? 1);
    case 'date':
      return /from/.test(o.long) ? '2026-01-01' : '2026-02-01';
    case 'entity':
      return 'tests';
    case 'choice':
      return o.choices![0];
    default:
      return { '--name': 'fuzz', '--out': path.join(tmp, 'fuzz.qbk'), '--in': path.join(tmp, 'missing.qbk'), '--tz': 'UTC', '--host': '127.0.0.1' }[o.long] ?? 'x';
  }
}

function validArg(a: ArgInfo): string {
  if (a.choices) return a.choices[0];
  return { username: 'fuzz-nobody', cron: '*/15 * * * *', id: 'ffffffffffffffff', 'on|off': 'on' }[a.name] ?? 'x';
}

function casesFor(c: CommandInfo, tmp: string): CliCase[] {
  const out: CliCase[] = [];
  const args = c.args.filter((a) => a.required).map(validArg);
  const mandatory = c.options.filter((o) => o.mandatory);
  const withMandatory = (skip?: string) => mandatory.filter((o) => o.long !== skip).flatMap((o) => [o.long, validOption(o, tmp)]);
  const base = (skip?: string) => [...c.path, ...args, ...withMandatory(skip)];
  const names = (o: OptionInfo, value?: string) => [o.long, ...(o.short ? [o.short] : []), ...(value && value.trim().length >= 3 && value.length <= 200 ? [value] : [])];
  const add = (kind: string, argv: string[], n: string[]) => out.push({ id: `${c.path.join(' ')}: ${kind}`, args: argv, names: n });

  add('unknown option', [...base(), '--no-such-option'], ['--no-such-option']);
  for (const o of c.options) {
    const rest = base(o.long);
    if (o.takesValue) {
      const bad = o.kind === 'text' ? (BAD_TEXT[o.long] ?? []) : (BAD[o.kind] ?? []);
      const range = o.kind === 'int' || o.kind === 'number' ? [o.min !== undefined ? String(o.min - 1) : undefined, o.max !== undefined ? String(o.max + 1) : undefined] : [];
      for (const v of [...range.filter((x): x is string => x !== undefined), ...bad]) {
        const value = v === '<tmpdir>' ? tmp : v;
        add(`${o.long} ${JSON.stringify(v.slice(0, 30))}`, [...rest, o.long, value], names(o, value));
      }
      add(`${o.long} without its value`, [...rest, o.long], names(o));
      add(`${o.long} twice, the second bad`, [...rest, o.long, validOption(o, tmp), o.long, o.kind === 'text' ? '' : 'not-valid-at-all'], o.kind === 'text' && !BAD_TEXT[o.long] ? [] : names(o));
      if (o.kind === 'text' && !BAD_TEXT[o.long]) out.pop(); // free text: a second value is just a value
    } else {
      add(`${o.long}=value`, [...rest, `${o.long}=yes`], names(o));
    }
    if (o.mandatory) add(`${o.long} missing`, [...c.path, ...args, ...withMandatory(o.long)], names(o));
  }
  const dates = c.options.filter((o) => o.kind === 'date');
  const from = dates.find((o) => /from/.test(o.long));
  const to = dates.find((o) => /to$/.test(o.long));
  if (from && to) {
    const argv = [...c.path, ...args, ...mandatory.filter((o) => o !== from && o !== to).flatMap((o) => [o.long, validOption(o, tmp)])];
    add('reversed range', [...argv, from.long, '2026-03-01', to.long, '2026-01-01'], [from.long, to.long]);
    add('empty range', [...argv, from.long, '2026-03-01', to.long, '2026-03-01'], [from.long, to.long]);
  }
  c.args.forEach((a, i) => {
    for (const v of a.choices ? ['nope', '', ...INJECTION, HUGE] : (BAD_ARG[a.name] ?? [...INJECTION, '', HUGE])) {
      const argv = [...c.path, ...c.args.slice(0, i).map(validArg), v, ...c.args.slice(i + 1).filter((x) => x.required).map(validArg), ...withMandatory()];
      add(`<${a.name}> ${JSON.stringify(v.slice(0, 30))}`, argv, []);
    }
    if (a.required) add(`<${a.name}> missing`, [...c.path, ...c.args.slice(0, i).map(validArg), ...withMandatory()], [a.name]);
  });
  if (!c.args.some((a) => a.variadic)) add('an extra argument', [...base(), 'extra-argument'], ['too many arguments']);
  return out;
}

describe('security: CLI fuzz (every command of qbsync --help)', function () {
  this.timeout(LONG ? 3 * 3600_000 : 300_000);
  const seed = fuzzSeed();
  let db: TestDatabase;
  let tmp: string;
  let tree: CliTree;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    db = await createTestDatabase();
    const sim = await testSimulator({ size: 'tiny', seed: 3 });
    try {
      await landAndTransform(db, sim, testConfig());
    } finally {
      await sim.close();
    }
    const password = crypto.randomBytes(18).toString('base64url');
    registerTestSecret(password, 'the CLI fuzz user password');
    await addUser(db.pool, 'fuzz-user', password, { admin: true });
    registerTestSecret((await createApiToken(db.pool, { name: 'fuzz', admin: true })).token, 'the CLI fuzz token');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qbsync-cli-fuzz-'));
    env = {
      PATH: process.env.PATH, HOME: tmp, DATABASE_URL: db.url, QBSYNC_DATA_DIR: path.join(tmp, 'data'), QBSYNC_LOG_LEVEL: 'error',
      // Nothing listens there: a case that got past its checks could not reach a QBench.
      QBENCH_BASE_URL: 'http://127.0.0.1:1', QBENCH_CLIENT_ID: 'fuzz-client', QBENCH_CLIENT_SECRET: `cli-fuzz-${crypto.randomBytes(9).toString('hex')}`,
    };
    const t = await run(process.execPath, ['--import', 'tsx', 'test/security/cli-tree.ts'], { maxBuffer: 16 * 1024 * 1024 });
    captureText('test/security/cli-tree.ts (stdout)', t.stdout);
    tree = JSON.parse(t.stdout) as CliTree;
  });
  after(async () => {
    await db?.drop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the tree fuzzed is the one --help lists', () => {
    const top = [...new Set(tree.commands.map((c) => c.path[0]))];
    expect(top).to.deep.equal(tree.helpCommands);
    expect(tree.helpCommands.length).to.be.at.least(20);
  });

  it(`bad flags and values exit 2 with one line naming the problem, no stack, nothing written (seed ${seed})`, async () => {
    const r = prng(seed);
    const all: CliCase[] = [];
    const chosen: CliCase[] = [];
    for (const c of tree.commands) {
      const cases = casesFor(c, tmp);
      all.push(...cases);
      chosen.push(...(LONG ? cases : [cases[0], ...r.sample(cases.slice(1), PER_COMMAND - 1)]));
    }
    const globals: CliCase[] = [
      { id: 'global: --log-level verbose', args: ['--log-level', 'verbose', 'status'], names: ['--log-level'] },
      { id: 'global: --log-level without its value', args: ['status', '--log-level'], names: ['--log-level'] },
      { id: 'global: unknown command', args: ['frobnicate'], names: ['frobnicate'] },
      { id: 'global: unknown subcommand', args: [r.pick(tree.commands.filter((c) => c.path.length > 1)).path[0], 'frobnicate'], names: ['frobnicate'] },
      { id: 'global: unknown option', args: ['--no-such-option'], names: ['--no-such-option'] },
    ];
    chosen.push(...globals);

    const before = await dataChecksums(db.pool);
    const failures: string[] = [];
    const started = Date.now();
    await pool(chosen, PARALLEL, async (k) => {
      const res = await runBounded(k.args, env, 45_000);
      const problems = judge(k, res);
      if (problems.length && LONG) process.stdout.write(`      ${k.id}: ${problems.join('; ')}\n`);
      if (problems.length) {
        failures.push(`${k.id} [qbsync ${k.args.map((a) => (a.length > 40 ? `${a.slice(0, 37)}...` : JSON.stringify(a))).join(' ')}]: ${problems.join('; ')} (exit ${res.code}${res.signal ? ` ${res.signal}` : ''}; stderr ${JSON.stringify(res.stderr.slice(0, 300))}; stdout ${JSON.stringify(res.stdout.slice(0, 120))})`);
      }
    });
    const seconds = (Date.now() - started) / 1000;
    const after = await dataChecksums(db.pool);
    const written = fs.existsSync(path.join(tmp, 'fuzz.qbk')) || fs.readdirSync(tmp).some((f) => f.endsWith('.partial'));
    const leaks = secretFindings((p) => p.startsWith('qbsync '));
    console.log(`      cli fuzz: ${chosen.length} runs of ${all.length} cases over ${tree.commands.length} commands in ${seconds.toFixed(1)} s (${PARALLEL} at a time); seed ${seed}`);
    expect(failures, `seed ${seed} (QBSYNC_FUZZ_SEED=${seed} replays it):\n${failures.join('\n')}`).to.deep.equal([]);
    expect(changedTables(before, after), `seed ${seed}: data changed`).to.deep.equal([]);
    expect(written, 'a backup file was written').to.equal(false);
    expect(leaks, formatFindings(leaks)).to.deep.equal([]);
  });
});

/** Runs per command in the default run (the unknown option, then a seeded sample of the others). */
const PER_COMMAND = 3;
/** CLI processes at once (2 cores; a start is mostly CPU). */
const PARALLEL = 4;

async function runBounded(args: string[], env: NodeJS.ProcessEnv, ms: number): Promise<CliResult> {
  const { child, done } = startCli(args, env);
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  try {
    return await done;
  } finally {
    clearTimeout(timer);
  }
}

function judge(k: CliCase, res: CliResult): string[] {
  const p: string[] = [];
  if (res.signal) p.push(`killed (${res.signal}): it did not stop by itself`);
  if (res.code !== 2) p.push(`exit ${res.code}, not 2`);
  if (STACK.test(res.stderr) || STACK.test(res.stdout)) p.push('a stack trace');
  if (res.stdout.trim()) p.push('output on stdout');
  // Log lines (JSON) may precede the message; the message itself is one line (+ the help hint).
  const lines = res.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('{'));
  const [first, ...more] = lines;
  if (!first) p.push('no message on stderr');
  else {
    if (!/^(error|qbsync): \S/.test(first)) p.push(`the message does not start with "error:" or "qbsync:"`);
    if (first.length > 400) p.push(`a ${first.length}-character message line`);
    if (k.names.length && !k.names.some((n) => first.includes(n))) p.push(`the message does not name ${k.names.join(' or ')}`);
  }
  const extra = more.filter((l) => l !== '(run with --help for usage)');
  if (extra.length) p.push(`${extra.length} more line(s): ${JSON.stringify(extra.slice(0, 2)).slice(0, 200)}`);
  return p;
}
