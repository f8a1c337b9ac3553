/**
 * runTransforms (incremental, into the live schema) and replay (rebuild from raw into a fresh schema, then swap).
 *
 * Replay, all targets:
 *   1. qbench_next is created empty, each table cloned from qbench (CREATE TABLE … LIKE, primary keys only).
 *   2. Every target is transformed into it from watermark 0 up to the horizon H0 (mode 'replay': no rollup
 *      bookkeeping), in the same bounded batches as an incremental run; then its other indexes are recreated
 *      from qbench's definitions (same names) and it is analysed. The tables are independent at this stage, so
 *      `concurrency` connections (default 2) build them side by side, largest first.
 *   3. The rollups are computed whole from the complete tables.
 *   4. The live schema's transform lock is taken (running incremental batches finish, new ones wait), the next
 *      schema catches up from H0 to the current horizon incrementally, and one short transaction renames
 *      qbench → qbench_replaced, qbench_next → qbench and moves the watermarks. The old schema is dropped after.
 *   Readers keep answering from the old tables until that commit; no request is made to QBench.
 *
 * Replay of some targets (`--entity`): only those tables are rebuilt in qbench_next; under the lock they are
 * caught up, moved into qbench in place of the old ones (ALTER TABLE … SET SCHEMA), and every rollup is
 * recomputed, all in one transaction.
 */
import type pg from 'pg';
import { QbsyncError, type Database, type Logger } from '../core/index.js';
import {
  checkTimezone, claimTimezone, horizon, LOCK_CLASS, setBatchSettings, sqlFile, transformTarget,
  type TargetStats,
} from './runner.js';
import { LIVE_SCHEMA, NEXT_SCHEMA, ROLLUPS, TARGETS, orderTargets, type Target } from './targets.js';

const OLD_SCHEMA = 'qbench_replaced';

export interface TransformOptions {
  /** Targets to run (default all), applied in dependency order. */
  targets?: readonly Target[];
  logger?: Logger;
  /** The lab timezone the rollups count days in (config `timezone`; default UTC). */
  timezone?: string;
  /** Records per batch (default 20 000; 50 000 in a replay). */
  batchRecords?: number;
  /** Replay: tables built at the same time, one connection each (default 2). */
  concurrency?: number;
  signal?: AbortSignal;
}

export interface TransformResult {
  schema: string;
  horizon: number;
  targets: TargetStats[];
  durationMs: number;
}

/** Applies the raw events landed since each target's watermark to the live typed tables and rollups. */
export async function runTransforms(db: Database, opts: TransformOptions = {}): Promise<TransformResult> {
  const started = Date.now();
  const client = await db.pool.connect();
  try {
    const timezone = await checkTimezone(client, opts.timezone ?? 'UTC');
    await claimTimezone(client, LIVE_SCHEMA, timezone);
    const h = await horizon(client);
    const targets: TargetStats[] = [];
    for (const target of orderTargets(opts.targets)) {
      if (opts.signal?.aborted) break;
      const s = await transformTarget(client, target, {
        schema: LIVE_SCHEMA, mode: 'incremental', timezone, horizon: h, batchRecords: opts.batchRecords, logger: opts.logger, signal: opts.signal,
      });
      targets.push(s);
      if (s.fetches > 0) opts.logger?.info('transformed', { ...s });
    }
    return { schema: LIVE_SCHEMA, horizon: h, targets, durationMs: Date.now() - started };
  } finally {
    client.release();
  }
}

export interface ReplayResult {
  /** 'all': a whole new schema was swapped in; 'tables': only the listed targets were replaced. */
  scope: 'all' | 'tables';
  targets: TargetStats[];
  /** The incremental catch-up applied under the lock just before the swap. */
  catchUp: TargetStats[];
  horizon: number;
  timezone: string;
  /** Wall time of loading the tables, their indexes and statistics. */
  buildMs: number;
  /** Time spent on indexes and on ANALYZE of the typed tables (summed over the connections). */
  indexMs: number;
  analyzeMs: number;
  /** Wall time of the rollups (computed, indexed, analysed). */
  rollupMs: number;
  catchUpMs: number;
  swapMs: number;
  /** Dropping the replaced tables (waits for readers still inside a query on them). */
  cleanupMs: number;
  durationMs: number;
}

async function one<T extends pg.QueryResultRow>(client: pg.PoolClient, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await client.query<T>(sql, params)).rows;
}

async function inTx<T>(client: pg.PoolClient, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const out = await fn();
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** Empty copies of the live tables in `dst`: columns, defaults, generated columns, checks, comments; PK only. */
async function cloneTables(client: pg.PoolClient, src: string, dst: string, tables: readonly string[]): Promise<void> {
  for (const t of tables) {
    await client.query(
      `CREATE TABLE ${dst}.${t} (LIKE ${src}.${t} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS
         INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS INCLUDING STATISTICS)`,
    );
  }
  for (const c of await constraintDefs(client, src, tables, ['p'])) await client.query(`ALTER TABLE ${dst}.${c.table} ADD CONSTRAINT ${c.name} ${c.def}`);
  // Per-column statistics targets (LIKE does not copy them).
  const targets = await one<{ table: string; col: string; target: number }>(
    client,
    `SELECT c.relname AS table, quote_ident(a.attname) AS col, a.attstattarget AS target
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname = ANY($2) AND a.attnum > 0 AND NOT a.attisdropped AND a.attstattarget >= 0`,
    [src, tables],
  );
  for (const t of targets) await client.query(`ALTER TABLE ${dst}.${t.table} ALTER COLUMN ${t.col} SET STATISTICS ${Number(t.target)}`);
  // Storage parameters (the TAT tables' toast_tuple_target; LIKE does not copy them either).
  const options = await one<{ table: string; options: string }>(
    client,
    `SELECT c.relname AS table, array_to_string(c.reloptions, ', ') AS options
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname = ANY($2) AND c.reloptions IS NOT NULL`,
    [src, tables],
  );
  for (const o of options) await client.query(`ALTER TABLE ${dst}.${o.table} SET (${o.options})`);
}

async function constraintDefs(client: pg.PoolClient, schema: string, tables: readonly string[], types: string[]) {
  return one<{ table: string; name: string; def: string }>(
    client,
    `SELECT r.relname AS table, quote_ident(c.conname) AS name, pg_get_constraintdef(c.oid) AS def
     FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
     WHERE n.nspname = $1 AND r.relname = ANY($2) AND c.contype = ANY($3::"char"[])
     ORDER BY r.relname, c.conname`,
    [schema, tables, types],
  );
}

/** Recreates, on `dst`, the indexes and unique/exclusion constraints of the `src` tables (same names). */
async function copyIndexes(client: pg.PoolClient, src: string, dst: string, tables: readonly string[]): Promise<void> {
  for (const c of await constraintDefs(client, src, tables, ['u', 'x'])) await client.query(`ALTER TABLE ${dst}.${c.table} ADD CONSTRAINT ${c.name} ${c.def}`);
  await client.query('BEGIN');
  let defs: Array<{ table: string; def: string }>;
  try {
    // An empty search_path makes pg_get_indexdef qualify every name, so the table reference is unambiguous.
    await client.query(`SET LOCAL search_path = ''`);
    defs = await one(
      client,
      `SELECT t.relname AS table, pg_get_indexdef(i.indexrelid) AS def
       FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
       WHERE n.nspname = $1 AND t.relname = ANY($2)
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
       ORDER BY t.relname, i.indexrelid`,
      [src, tables],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  for (const d of defs) {
    const from = ` ON ${src}.${d.table} `;
    if (!d.def.includes(from)) throw new QbsyncError(`cannot copy index definition: ${d.def}`);
    await client.query(d.def.replace(from, ` ON ${dst}.${d.table} `));
  }
}

/**
 * Every rollup day from the typed tables of `schema`, in the caller's transaction. The whole tables are read,
 * so index scans are switched off for it: the per-day index ranges that suit an incremental run would only
 * slow this down (sequential scans and hash joins instead).
 */
async function allRollups(client: pg.PoolClient, schema: string, timezone: string): Promise<void> {
  await setBatchSettings(client, { schema, mode: 'replay', timezone });
  await client.query(`SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off`);
  await client.query(`CREATE TEMP TABLE touched_days (rollup text NOT NULL, day date NOT NULL, PRIMARY KEY (rollup, day)) ON COMMIT DROP`);
  await client.query(sqlFile('_rollups'));
}

/** Every rollup day, from the typed tables of `schema` (whose rollup tables are empty). */
async function computeRollups(client: pg.PoolClient, schema: string, timezone: string): Promise<void> {
  await inTx(client, () => allRollups(client, schema, timezone));
}

/**
 * Rebuilds the typed tables and rollups from raw (watermark 0) and swaps them in atomically. With `targets`
 * (a strict subset), only those tables are rebuilt and swapped, and every rollup recomputed.
 */
export async function replay(db: Database, opts: TransformOptions = {}): Promise<ReplayResult> {
  const started = Date.now();
  const targets = orderTargets(opts.targets);
  const scope: 'all' | 'tables' = targets.length === TARGETS.length ? 'all' : 'tables';
  const log = opts.logger;
  const client = await db.pool.connect();
  let nextLocked = false;
  let liveLocked = false;
  try {
    const timezone = await checkTimezone(client, opts.timezone ?? 'UTC');
    const [{ ok }] = await one<{ ok: boolean }>(client, 'SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LOCK_CLASS, NEXT_SCHEMA]);
    if (!ok) throw new QbsyncError('another replay is already running');
    nextLocked = true;
    if (scope === 'tables') {
      // The rebuilt tables join rollups whose days the other tables were counted in.
      const [live] = await one<{ timezone: string }>(client, `SELECT timezone FROM qbsync.transform_schemas WHERE schema_name = $1`, [LIVE_SCHEMA]);
      if (live && live.timezone !== timezone) {
        throw new QbsyncError(`the rollups count days in ${live.timezone}, not ${timezone}: a timezone change needs a replay of every entity (without --entity)`, 2);
      }
    }

    // 1. A fresh schema with empty copies of the tables (primary keys only, for the upserts).
    const tables: string[] = scope === 'all' ? [...TARGETS, ...ROLLUPS] : [...targets];
    await inTx(client, async () => {
      await client.query(`DROP SCHEMA IF EXISTS ${NEXT_SCHEMA} CASCADE`);
      await client.query(`CREATE SCHEMA ${NEXT_SCHEMA}`);
      await client.query(`DELETE FROM qbsync.transform_watermarks WHERE schema_name = $1`, [NEXT_SCHEMA]);
      await client.query(
        `INSERT INTO qbsync.transform_schemas (schema_name, timezone) VALUES ($1, $2)
         ON CONFLICT (schema_name) DO UPDATE SET timezone = EXCLUDED.timezone, created_at = now(), replayed_at = NULL`,
        [NEXT_SCHEMA, timezone],
      );
      await cloneTables(client, LIVE_SCHEMA, NEXT_SCHEMA, tables);
    });

    // 2. Load each table from raw (watermark 0 .. H0), then its other indexes and statistics. Tables are
    // independent here (no rollup bookkeeping), so `concurrency` connections build them side by side, the
    // largest first.
    const buildStarted = Date.now();
    const h0 = await horizon(client);
    const sizes = new Map(
      (await one<{ entity: string; n: number }>(client, `SELECT entity, sum(record_count)::bigint AS n FROM raw.fetches WHERE id <= $1 GROUP BY entity`, [h0]))
        .map((r) => [r.entity, Number(r.n)]),
    );
    const queue = [...targets].sort((a, b) => (sizes.get(b) ?? 0) - (sizes.get(a) ?? 0));
    const built = new Map<Target, TargetStats>();
    let indexMs = 0;
    let analyzeMs = 0;
    let failed = false;
    const worker = async () => {
      const c = await db.pool.connect();
      try {
        for (let target = queue.shift(); target && !failed; target = queue.shift()) {
          if (opts.signal?.aborted) throw new QbsyncError('replay cancelled');
          const s = await transformTarget(c, target, {
            schema: NEXT_SCHEMA, mode: 'replay', timezone, horizon: h0, batchRecords: opts.batchRecords ?? 50_000, logger: log, signal: opts.signal,
          });
          const i0 = Date.now();
          await copyIndexes(c, LIVE_SCHEMA, NEXT_SCHEMA, [target]);
          const a0 = Date.now();
          await c.query(`ANALYZE ${NEXT_SCHEMA}.${target}`);
          indexMs += a0 - i0;
          analyzeMs += Date.now() - a0;
          built.set(target, s);
          log?.info('replay: table rebuilt', { ...s });
        }
      } catch (err) {
        failed = true;
        throw err;
      } finally {
        c.release();
      }
    };
    const settled = await Promise.allSettled(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 2, targets.length)) }, worker));
    const rejected = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) throw rejected.reason;
    const buildMs = Date.now() - buildStarted;

    // 3. Rollups, from the complete tables.
    let rollupMs = 0;
    if (scope === 'all') {
      const rollupStarted = Date.now();
      await computeRollups(client, NEXT_SCHEMA, timezone);
      await copyIndexes(client, LIVE_SCHEMA, NEXT_SCHEMA, ROLLUPS);
      await client.query(`ANALYZE ${ROLLUPS.map((t) => `${NEXT_SCHEMA}.${t}`).join(', ')}`);
      rollupMs = Date.now() - rollupStarted;
    }

    // 4. Under the live lock: catch up with what landed meanwhile, then swap in one transaction.
    if (opts.signal?.aborted) throw new QbsyncError('replay cancelled');
    await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [LOCK_CLASS, LIVE_SCHEMA]);
    liveLocked = true;
    const catchUpStarted = Date.now();
    const h1 = await horizon(client);
    const catchUp: TargetStats[] = [];
    for (const target of targets) {
      catchUp.push(await transformTarget(client, target, {
        schema: NEXT_SCHEMA, mode: scope === 'all' ? 'incremental' : 'replay', timezone, horizon: h1, batchRecords: opts.batchRecords, logger: log,
      }));
    }
    const catchUpMs = Date.now() - catchUpStarted;
    const swapStarted = Date.now();
    await client.query(`DROP SCHEMA IF EXISTS ${OLD_SCHEMA} CASCADE`);
    await inTx(client, async () => {
      if (scope === 'all') {
        await client.query(`ALTER SCHEMA ${LIVE_SCHEMA} RENAME TO ${OLD_SCHEMA}`);
        await client.query(`ALTER SCHEMA ${NEXT_SCHEMA} RENAME TO ${LIVE_SCHEMA}`);
        await client.query(`DELETE FROM qbsync.transform_watermarks WHERE schema_name = $1`, [LIVE_SCHEMA]);
        await client.query(`UPDATE qbsync.transform_watermarks SET schema_name = $1 WHERE schema_name = $2`, [LIVE_SCHEMA, NEXT_SCHEMA]);
        await client.query(`DELETE FROM qbsync.transform_schemas WHERE schema_name = $1`, [LIVE_SCHEMA]);
        await client.query(`UPDATE qbsync.transform_schemas SET schema_name = $1, replayed_at = now() WHERE schema_name = $2`, [LIVE_SCHEMA, NEXT_SCHEMA]);
      } else {
        await client.query(`CREATE SCHEMA ${OLD_SCHEMA}`);
        for (const t of targets) {
          await client.query(`ALTER TABLE ${LIVE_SCHEMA}.${t} SET SCHEMA ${OLD_SCHEMA}`);
          await client.query(`ALTER TABLE ${NEXT_SCHEMA}.${t} SET SCHEMA ${LIVE_SCHEMA}`);
        }
        await client.query(
          `INSERT INTO qbsync.transform_watermarks AS w (schema_name, target, last_fetch_id, updated_at, last_stats)
           SELECT $1, target, last_fetch_id, now(), last_stats FROM qbsync.transform_watermarks WHERE schema_name = $2
           ON CONFLICT (schema_name, target) DO UPDATE SET last_fetch_id = EXCLUDED.last_fetch_id, updated_at = now(), last_stats = EXCLUDED.last_stats`,
          [LIVE_SCHEMA, NEXT_SCHEMA],
        );
        await client.query(`DELETE FROM qbsync.transform_watermarks WHERE schema_name = $1`, [NEXT_SCHEMA]);
        await client.query(`DELETE FROM qbsync.transform_schemas WHERE schema_name = $1`, [NEXT_SCHEMA]);
        await client.query(`UPDATE qbsync.transform_schemas SET replayed_at = now() WHERE schema_name = $1`, [LIVE_SCHEMA]);
        // Every rollup again, from the swapped-in tables (same transaction: readers see old or new, never a mix).
        for (const r of ROLLUPS) await client.query(`DELETE FROM ${LIVE_SCHEMA}.${r}`);
        await allRollups(client, LIVE_SCHEMA, timezone);
      }
    });
    const swapMs = Date.now() - swapStarted;
    await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_CLASS, LIVE_SCHEMA]);
    liveLocked = false;
    // Readers still inside a query on the old tables finish first; this waits for them, outside the swap.
    const cleanupStarted = Date.now();
    await client.query(`DROP SCHEMA IF EXISTS ${OLD_SCHEMA} CASCADE`);
    if (scope === 'tables') await client.query(`DROP SCHEMA IF EXISTS ${NEXT_SCHEMA} CASCADE`);
    const cleanupMs = Date.now() - cleanupStarted;
    const result: ReplayResult = {
      scope, targets: targets.map((t) => built.get(t)!), catchUp, horizon: h1, timezone, buildMs, indexMs, rollupMs, analyzeMs, catchUpMs, swapMs, cleanupMs,
      durationMs: Date.now() - started,
    };
    log?.info('replay swapped in', { scope, horizon: h1, duration_ms: result.durationMs, swap_ms: swapMs });
    return result;
  } finally {
    // On failure the live schema is untouched; a half-built next schema is dropped by the next replay.
    if (liveLocked) await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_CLASS, LIVE_SCHEMA]).catch(() => undefined);
    if (nextLocked) await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_CLASS, NEXT_SCHEMA]).catch(() => undefined);
    client.release();
  }
}

