/**
 * Shared pieces of the chaos scenarios (test/chaos/*.ts): the two forms, a seeded PRNG, figures, and the
 * checks every scenario ends with (raw against the simulator's truth, pages landed once, typed tables equal,
 * CLI failures that read as one line).
 *
 * Each scenario is a function `(opts: ChaosOptions) => Promise<Figures>` that throws (chai) when an outcome
 * is wrong; `*.test.ts` run the short form inside `npm test`, `run-long.ts` (`npm run chaos`) the long form.
 * Seeds: every random choice of a scenario (what to kill, when, which fault) comes from `rng(seed)`, so a
 * failing seed replays the same plan: `CHAOS_SEED=<n> npx mocha test/chaos/x.test.ts` or
 * `npm run chaos -- --seed <n>`. Timing on a busy machine still varies; assertions are on outcomes only.
 */
import type pg from 'pg';
import { expect } from 'chai';
import type { Database } from '../../core/index.js';
import { tableChecksums, type TableChecksum } from '../../transform/index.js';
import type { SimEntity, Simulator } from '../../sim/index.js';
import { startCli, type CliResult } from '../helpers/cli.js';
import { rawIds, V1 } from '../helpers/raw.js';

export type Form = 'short' | 'long';

export interface ChaosOptions {
  seed: number;
  form: Form;
  /** Progress lines (the long form prints them; tests keep them for failure messages). */
  log?: (line: string) => void;
}

/** What a scenario did and checked; printed by the long form and written to bench/results/chaos.json. */
export interface Figures {
  scenario: string;
  form: Form;
  seed: number;
  durationMs: number;
  /** Processes killed with SIGKILL (or Postgres restarts) the run recovered from. */
  killsSurvived: number;
  /** Faults injected (QBench outages, Postgres restarts, kills). */
  faultsInjected: number;
  /** Records (raw ids, typed rows, chunk rows, pages) compared against the expected outcome. */
  recordsChecked: number;
  /** Differences found; every scenario asserts this is 0. */
  mismatches: number;
  [k: string]: unknown;
}

// ------------------------------------------------------------------------------------------------ randomness

/** Every random choice of a scenario comes from here (see test/helpers/random.ts). */
export { seededRandom as rng } from '../helpers/random.js';

/** The seed of a run: CHAOS_SEED when set (to replay a failure), else the scenario's default. */
export function chaosSeed(fallback: number): number {
  const s = process.env.CHAOS_SEED;
  return s && /^\d+$/.test(s) ? Number(s) : fallback;
}

// ------------------------------------------------------------------------------------------------ waiting

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitFor(pred: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** raw.fetches rows; -1 while the database does not answer (a restart in progress). */
export async function countEvents(pool: pg.Pool): Promise<number> {
  try {
    const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM raw.fetches`);
    return rows[0].n;
  } catch {
    return -1;
  }
}

// ------------------------------------------------------------------------------------------------ CLI output

/**
 * Runs the CLI to its end like runCli, but SIGKILLs it after `ms` (a hang is then a failure with the process's
 * output, and no child outlives the scenario: mocha's own timeout would leave it running).
 */
export async function runCliWithin(args: string[], env: NodeJS.ProcessEnv, ms = 150_000): Promise<CliResult> {
  const { child, done } = startCli(args, env);
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const r = await done;
  clearTimeout(timer);
  expect(r.signal, `qbsync ${args.join(' ')} did not finish within ${ms / 1000} s\n${r.stderr.slice(-2000)}`).to.not.equal('SIGKILL');
  return r;
}

/** A Node stack trace or an unhandled error dump in a process's output. */
export function stackTrace(text: string): string | null {
  const m = /^\s+at .+(:\d+:\d+\)?|\(native\))$|node:internal|Unhandled 'error' event|^\S*Error: .*\n\s+at /m.exec(text);
  return m ? m[0] : null;
}

/** stderr lines that are not JSON log lines (what a person reads). */
export function plainLines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
}

/** Messages that are bugs speaking, not a condition explained (a double pool release, a TypeError, …). */
const PROGRAMMING_ERROR = /already been released|Cannot read propert|is not a function|is not defined|is not iterable|Unexpected token|Maximum call stack|ERR_INVALID_ARG/;

/**
 * A CLI process that did not succeed must say why in one line and never dump a stack: either one
 * `qbsync: …` line on stderr, or (a sync that recorded its failure) the run's summary on stdout with the
 * failed entity's error on its line. Returns that line.
 */
export function expectCleanFailure(r: CliResult, what: string): string {
  const all = `${r.stdout}\n${r.stderr}`;
  expect(stackTrace(all), `${what}: no stack trace\n${all.slice(-3000)}`).to.equal(null);
  const plain = plainLines(r.stderr);
  expect(plain.length, `${what}: at most one plain line on stderr: ${JSON.stringify(plain)}`).to.be.at.most(1);
  if (plain.length === 1) {
    expect(plain[0], `${what}: the error line`).to.match(/^qbsync: \S.{5,}$/);
    expect(plain[0], `${what}: a clear error, not a programming error`).to.not.match(PROGRAMMING_ERROR);
    return plain[0];
  }
  const failed = r.stdout.split('\n').find((l) => / failed {2,}.*\S/.test(l) || /^run \S+: failed/.test(l));
  expect(failed, `${what}: exit ${r.code} without an error line\nstdout: ${r.stdout}\nstderr: ${r.stderr.slice(-2000)}`).to.be.a('string');
  const line = r.stdout.split('\n').find((l) => / failed {2,}\S/.test(l)) ?? failed!;
  expect(line, `${what}: a clear error, not a programming error`).to.not.match(PROGRAMMING_ERROR);
  return line;
}

// ------------------------------------------------------------------------------------------------ checks

export const CORE = ['customers', 'orders', 'samples', 'batches', 'tests'] as const;
export const ALL = ['customers', 'orders', 'samples', 'batches', 'tests', 'assays', 'reports'] as const;

/** Every live id of the simulator is in raw, per entity; returns the ids compared and the entities that differ. */
export async function rawAgainstTruth(pool: pg.Pool, sim: Simulator, entities: readonly string[] = ALL): Promise<{ checked: number; mismatches: string[] }> {
  let checked = 0;
  const mismatches: string[] = [];
  for (const e of entities) {
    const truth = sim.truth.ids(V1[e] as SimEntity);
    const raw = await rawIds(pool, e);
    checked += truth.length;
    const have = new Set(raw);
    const missing = truth.filter((id) => !have.has(id));
    if (missing.length) mismatches.push(`${e}: ${missing.length} of ${truth.length} ids missing from raw (first ${missing.slice(0, 5).join(', ')})`);
  }
  return { checked, mismatches };
}

/**
 * Full-pass list pages landed more than once (backfill pages, bf:…, are not full-pass pages). scope 'pass':
 * within one pass (the first segment of page_key), for runs that legitimately start new passes; 'all': across
 * passes too, for runs that must have made exactly one pass per entity — a resume that restarted the pass
 * (new pass id, same pages) shows up there, as in test/helpers/raw.ts duplicatePages.
 */
export async function fullPassDuplicates(pool: pg.Pool, scope: 'pass' | 'all' = 'pass'): Promise<Array<{ pass: string; entity: string; page_number: number; n: number }>> {
  const { rows } = await pool.query(
    `SELECT CASE WHEN $1 THEN split_part(page_key, '/', 1) ELSE '*' END AS pass, entity, page_number, count(*)::int AS n FROM raw.fetches
     WHERE kind = 'list' AND page_key IS NOT NULL AND page_key NOT LIKE 'bf:%'
     GROUP BY 1, 2, 3, page_size HAVING count(*) > 1 ORDER BY 1, 2, 3`,
    [scope === 'pass'],
  );
  return rows;
}

/** Entities whose full-pass pages belong to more than one pass. */
export async function restartedPasses(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query(
    `SELECT entity, count(DISTINCT split_part(page_key, '/', 1))::int AS n FROM raw.fetches
     WHERE kind = 'list' AND page_key IS NOT NULL AND page_key NOT LIKE 'bf:%' GROUP BY entity HAVING count(DISTINCT split_part(page_key, '/', 1)) > 1`,
  );
  return rows.map((r) => `${r.entity}: pages from ${r.n} passes (a resume started the pass over)`);
}

/** Full-pass list pages landed (for the figures). */
export async function fullPassPages(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query(`SELECT count(*)::int AS n FROM raw.fetches WHERE kind = 'list' AND page_key IS NOT NULL AND page_key NOT LIKE 'bf:%'`);
  return rows[0].n;
}

/**
 * A backfill's chunks: every one done, once (one row per planned chunk, status done), and each chunk's list
 * pages landed once (by page number within the chunk's window, whatever the page key says).
 */
export async function backfillChunkCheck(pool: pg.Pool, backfillId: string): Promise<{ chunks: number; pages: number; problems: string[] }> {
  const problems: string[] = [];
  const { rows: chunks } = await pool.query<{ chunk_id: number; entity: string; chunk_start: Date | null; status: string; pages: number }>(
    `SELECT chunk_id, entity, chunk_start, status, pages FROM qbsync.backfill_chunks WHERE backfill_id = $1 ORDER BY chunk_id`, [backfillId],
  );
  const keys = new Set<string>();
  for (const c of chunks) {
    const key = `${c.entity}/${c.chunk_start?.toISOString() ?? 'undated'}`;
    if (keys.has(key)) problems.push(`chunk ${key} planned twice`);
    keys.add(key);
    if (c.status !== 'done') problems.push(`chunk ${c.chunk_id} (${key}) is ${c.status}`);
  }
  const { rows: dup } = await pool.query(
    `SELECT split_part(page_key, '/', 3) AS chunk, entity, page_number, count(*)::int AS n FROM raw.fetches
     WHERE kind = 'list' AND page_key LIKE $1 GROUP BY 1, 2, 3 HAVING count(*) > 1`,
    [`bf:${backfillId}/%`],
  );
  for (const d of dup) problems.push(`backfill page ${d.entity} ${d.chunk} p${d.page_number} landed ${d.n} times`);
  const { rows: [landed] } = await pool.query(`SELECT count(*)::int AS n FROM raw.fetches WHERE kind = 'list' AND page_key LIKE $1`, [`bf:${backfillId}/%`]);
  const recorded = chunks.reduce((a, c) => a + c.pages, 0);
  if (landed.n !== recorded) problems.push(`backfill landed ${landed.n} list pages but its chunks count ${recorded}`);
  return { chunks: chunks.length, pages: landed.n, problems };
}

/** Columns that name raw fetches (ids, times): equal data landed through different fetches differs only there. */
export const FETCH_COLUMNS = ['source_fetch_id', 'deleted_at'] as const;

export type Checksums = Record<string, TableChecksum>;

export function contentChecksums(db: Database): Promise<Checksums> {
  return tableChecksums(db, { exclude: FETCH_COLUMNS });
}

/** Tables whose checksums differ (rows and md5), as readable lines. */
export function checksumDiff(got: Checksums, want: Checksums): string[] {
  const out: string[] = [];
  for (const t of new Set([...Object.keys(want), ...Object.keys(got)])) {
    const a = got[t];
    const b = want[t];
    if (!a || !b || a.rows !== b.rows || a.md5 !== b.md5) out.push(`${t}: ${a?.rows ?? '-'} rows ${a?.md5 ?? ''} vs ${b?.rows ?? '-'} rows ${b?.md5 ?? ''}`);
  }
  return out;
}

export function typedRows(sums: Checksums): number {
  return Object.values(sums).reduce((a, s) => a + s.rows, 0);
}

/** Runs the given async cleanups in reverse order, never throwing (so a failed scenario still cleans up). */
export class Cleanup {
  private fns: Array<() => Promise<unknown> | unknown> = [];
  add(fn: () => Promise<unknown> | unknown): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    while (this.fns.length) {
      const fn = this.fns.pop()!;
      try {
        await fn();
      } catch {
        /* best effort */
      }
    }
  }
}

/** A percentile of sorted numbers (nearest rank). */
export function pct(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))];
}

export function logger(opts: ChaosOptions, scenario: string): (line: string) => void {
  return (line) => opts.log?.(`[${scenario}] ${line}`);
}

/**
 * For the mocha wrappers: runs a scenario's short form, keeping its progress lines for the failure message
 * (CHAOS_VERBOSE=1 prints them as they come).
 */
export async function runShort(scenario: (o: ChaosOptions) => Promise<Figures>, defaultSeed: number): Promise<Figures> {
  const lines: string[] = [];
  const seed = chaosSeed(defaultSeed);
  try {
    return await scenario({
      seed, form: 'short',
      log: (l) => {
        lines.push(l);
        if (process.env.CHAOS_VERBOSE) process.stdout.write(`      ${l}\n`);
      },
    });
  } catch (err) {
    if (err instanceof Error) err.message += `\n(seed ${seed}; replay with CHAOS_SEED=${seed})\n${lines.join('\n')}`;
    throw err;
  }
}
