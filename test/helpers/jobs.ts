/** Shared bits of the jobs/backfill suites: config, loggers, clients, and truth/raw comparisons by date. */
import { PassThrough } from 'node:stream';
import type pg from 'pg';
import { createLogger, loadConfig, type Config } from '../../core/index.js';
import { makeClient, MemoryRateBudget, parseQBenchDate, type ChunkDeps, type RateBudget } from '../../ingest/index.js';
import type { SimEntity, Simulator } from '../../sim/index.js';
import type { TestDatabase } from './pg.js';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET } from './sim.js';

/** Fast retries so fault paths finish in seconds. */
export const FAST = { backoffBaseMs: 5, backoffCapMs: 50, requestTimeoutMs: 5000, rateLimitMaxWaitMs: 5000 };

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ QBENCH_CLIENT_ID: TEST_CLIENT_ID, QBENCH_CLIENT_SECRET: TEST_CLIENT_SECRET, QBENCH_BASE_URL: 'http://127.0.0.1:1', ...env });
}

export function capture(level: 'debug' | 'info' = 'info') {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (c) => lines.push(String(c)));
  return { logger: createLogger({ level, console: false, stream }), lines, text: () => lines.join('') };
}

/** Chunk dependencies for running backfills in-process against a simulator (no rate limit unless given). */
export function chunkDeps(db: TestDatabase, sim: Simulator, opts: { budget?: RateBudget; logger?: ReturnType<typeof capture>['logger'] } = {}): ChunkDeps {
  const logger = opts.logger ?? capture().logger;
  const budget = opts.budget ?? new MemoryRateBudget({ limit: 1e6, windowMs: 1000 });
  return {
    db, logger,
    makeClient: (onEvent) => makeClient(testConfig(), { baseUrl: sim.url, logger, onEvent, rateBudget: budget, overrides: FAST }),
  };
}

/** Live ids the simulator holds with date_created in [from, to) (customers: null dates when `undated`). */
export function truthIdsInRange(sim: Simulator, entity: SimEntity, from: Date, to: Date, undated = false): number[] {
  const out: number[] = [];
  for (const id of sim.truth.ids(entity)) {
    const rec = sim.truth.get(entity, id);
    const d = parseQBenchDate(rec?.date_created);
    if (undated ? d === null : d !== null && d >= from.getTime() && d < to.getTime()) out.push(id);
  }
  return out;
}

/** Distinct ids raw holds for the entity whose date_created (as landed) is in [from, to). */
export async function rawIdsInRange(pool: pg.Pool, entity: string, from: Date, to: Date): Promise<number[]> {
  const { rows } = await pool.query<{ id: number }>(
    `SELECT DISTINCT qbsync.rr_id(item) AS id
     FROM raw.fetches f JOIN raw.page_bodies b ON b.sha256 = f.body_sha256,
     LATERAL jsonb_array_elements(qbsync.rr_records(f.kind, b.body)) AS item
     WHERE f.entity = $1 AND jsonb_typeof(item) = 'object'
       AND qbsync.rr_ts(item->>'date_created') >= $2 AND qbsync.rr_ts(item->>'date_created') < $3
     ORDER BY 1`,
    [entity, from, to],
  );
  return rows.map((r) => Number(r.id));
}

/** The largest number of requests inside any window of `windowMs` (a window is [t, t + windowMs)). */
export function maxInWindow(times: number[], windowMs: number): { max: number; at: number } {
  const t = [...times].sort((a, b) => a - b);
  let best = { max: 0, at: 0 };
  let j = 0;
  for (let i = 0; i < t.length; i++) {
    while (t[i] - t[j] >= windowMs) j++;
    if (i - j + 1 > best.max) best = { max: i - j + 1, at: t[j] };
  }
  return best;
}

export async function waitFor(pred: () => Promise<boolean> | boolean, timeoutMs: number, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
