/**
 * The transform runner: applies transform/sql/*.sql to the raw events of one target in bounded batches.
 *
 * One batch = one transaction: take the schema's transform lock, read the target's watermark, pick the next
 * fetches of its entity (id > watermark, at most ~batchRecords records, never past the horizon), stage them
 * (_incoming.sql), apply the target's file, recompute the rollup days it touched (_rollups.sql, incremental
 * mode only), and move the watermark. A crash leaves either the whole batch applied (rows, rollups and
 * watermark) or none of it.
 *
 * The horizon is the largest raw.fetches id below which every fetch has committed: it is read under a brief
 * SHARE lock on raw.fetches, which waits for landing transactions in flight. Without it a fetch id taken by a
 * landing that commits late (ids come from a sequence, commits in any order) could fall behind a watermark
 * that already moved past it, and never be transformed.
 *
 * The SQL files take their inputs from transaction-local settings (set_config … true), so they stay plain,
 * readable SQL that also runs in psql: qbsync.entity, qbsync.from_fetch, qbsync.to_fetch, qbsync.mode
 * ('incremental' | 'replay') and qbsync.timezone; search_path puts the schema being written first.
 */
import fs from 'node:fs';
import pg from 'pg';
import { QbsyncError, type Logger } from '../core/index.js';
import { LIVE_SCHEMA, type Target } from './targets.js';

export type TransformMode = 'incremental' | 'replay';

/** Class id of the advisory locks (the second key is hashtext(schema)). */
export const LOCK_CLASS = 0x71b5;

const SQL_DIR = new URL('./sql/', import.meta.url);
const sqlCache = new Map<string, string>();

/**
 * A line `-- @include _name` in a target's file: a step every target shares (transform/sql/_name.sql), written once
 * with `{{table}}` where the target's table goes.
 */
const INCLUDE = /^-- @include (_[a-z_]+)$/gm;

/**
 * The text of transform/sql/<name>.sql (read once), its includes expanded for the table of the same name (names come
 * from the code's list of targets, never from input).
 */
export function sqlFile(name: string): string {
  let text = sqlCache.get(name);
  if (text === undefined) {
    const read = (file: string) => fs.readFileSync(new URL(`${file}.sql`, SQL_DIR), 'utf8');
    text = read(name).replace(INCLUDE, (_, part: string) => read(part).replaceAll('{{table}}', pg.escapeIdentifier(name)));
    sqlCache.set(name, text);
  }
  return text;
}

export interface TargetStats {
  target: Target;
  /** raw.fetches rows applied. */
  fetches: number;
  /** Records those fetches carried (raw.fetches.record_count). */
  records: number;
  /** Distinct record ids after keeping the newest version per batch. */
  staged: number;
  inserted: number;
  updated: number;
  /** Staged ids whose row did not change (same or older version). */
  unchanged: number;
  /** Rows soft-deleted from the Updates feed's deleted ids. */
  deleted: number;
  batches: number;
  durationMs: number;
  /** Watermark before and after. */
  fromFetch: number;
  toFetch: number;
}

export interface BatchOptions {
  schema: string;
  mode: TransformMode;
  timezone: string;
  /** Fetches with larger ids are left for a later run. */
  horizon: number;
  /** Records per batch (a batch holds at least one fetch). */
  batchRecords?: number;
  /** Fetches per batch at most. */
  batchFetches?: number;
  logger?: Logger;
  signal?: AbortSignal;
}

export const DEFAULT_BATCH_RECORDS = 20_000;
/** Sort and hash memory of one batch (its sorts of ~batchRecords records stay in memory). */
const WORK_MEM = '64MB';
export const DEFAULT_BATCH_FETCHES = 2_000;

export function assertSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new QbsyncError(`invalid schema name ${JSON.stringify(schema)}`);
  return schema;
}

/** Validates an IANA timezone with Postgres itself (the rollups count days with it). */
export async function checkTimezone(client: pg.PoolClient | pg.Client, timezone: string): Promise<string> {
  try {
    await client.query(`SELECT now() AT TIME ZONE $1`, [timezone]);
  } catch {
    throw new QbsyncError(`unknown timezone ${JSON.stringify(timezone)} (use an IANA name such as UTC or America/Bogota)`, 2);
  }
  return timezone;
}

/** The largest fetch id below which every landing has committed (see the header). */
export async function horizon(client: pg.PoolClient): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL lock_timeout = '60s'`);
    await client.query('LOCK TABLE raw.fetches IN SHARE MODE');
    const { rows } = await client.query<{ h: number }>('SELECT coalesce(max(id), 0)::bigint AS h FROM raw.fetches');
    await client.query('COMMIT');
    return Number(rows[0].h);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Transaction-scoped transform lock. Incremental batches of one schema never run at the same time (they share
 * the rollups); replay batches (no rollups) only exclude other batches of the same target, so a replay can
 * build several tables at once.
 */
export async function lockBatchXact(client: pg.PoolClient, schema: string, mode: TransformMode, target: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS, mode === 'incremental' ? schema : `${schema}:${target}`]);
}

/**
 * Records the timezone a schema's rollups use, or checks it: rollup days counted in one timezone cannot be
 * mixed with days counted in another, so a change of QBSYNC_TIMEZONE needs a replay (unless nothing has been
 * transformed into the schema yet).
 */
export async function claimTimezone(client: pg.PoolClient, schema: string, timezone: string): Promise<void> {
  await client.query(
    `INSERT INTO qbsync.transform_schemas (schema_name, timezone) VALUES ($1, $2) ON CONFLICT (schema_name) DO NOTHING`,
    [schema, timezone],
  );
  const { rows } = await client.query<{ timezone: string; applied: number }>(
    `SELECT s.timezone, (SELECT coalesce(max(last_fetch_id), 0) FROM qbsync.transform_watermarks w WHERE w.schema_name = s.schema_name)::bigint AS applied
     FROM qbsync.transform_schemas s WHERE s.schema_name = $1`,
    [schema],
  );
  const row = rows[0];
  if (row.timezone === timezone) return;
  if (Number(row.applied) === 0) {
    await client.query(`UPDATE qbsync.transform_schemas SET timezone = $2 WHERE schema_name = $1`, [schema, timezone]);
    return;
  }
  throw new QbsyncError(
    `the rollups in schema ${schema} count days in ${row.timezone}, but the configured timezone is ${timezone}: ` +
      `run \`qbsync replay\` to rebuild them in ${timezone} (or set QBSYNC_TIMEZONE=${row.timezone})`,
    2,
  );
}

type Results = pg.QueryResult | pg.QueryResult[];
const asList = (r: Results): pg.QueryResult[] => (Array.isArray(r) ? r : [r]);

/** Sums the named numeric columns over every result set of a multi-statement query. */
function sumColumn(results: Results, column: string): number {
  let n = 0;
  for (const r of asList(results)) for (const row of r.rows ?? []) if (row && column in row) n += Number(row[column]);
  return n;
}

/** Sets the settings the SQL files read, for this transaction only. */
export async function setBatchSettings(
  client: pg.PoolClient,
  s: { schema: string; mode: TransformMode; timezone: string; entity?: string; from?: number; to?: number },
): Promise<void> {
  const path = s.schema === LIVE_SCHEMA ? LIVE_SCHEMA : `${s.schema}, ${LIVE_SCHEMA}`;
  await client.query(
    `SELECT set_config('search_path', $1, true), set_config('qbsync.mode', $2, true), set_config('qbsync.timezone', $3, true),
            set_config('qbsync.entity', $4, true), set_config('qbsync.from_fetch', $5, true), set_config('qbsync.to_fetch', $6, true),
            set_config('work_mem', $7, true)`,
    [path, s.mode, s.timezone, s.entity ?? '', String(s.from ?? 0), String(s.to ?? 0), WORK_MEM],
  );
}

/**
 * Applies every fetch of the target's entity with watermark < id <= horizon, batch by batch; the watermark
 * ends at the horizon.
 */
export async function transformTarget(client: pg.PoolClient, target: Target, o: BatchOptions): Promise<TargetStats> {
  const schema = assertSchemaName(o.schema);
  const batchRecords = o.batchRecords ?? DEFAULT_BATCH_RECORDS;
  const batchFetches = o.batchFetches ?? DEFAULT_BATCH_FETCHES;
  const started = Date.now();
  const stats: TargetStats = {
    target, fetches: 0, records: 0, staged: 0, inserted: 0, updated: 0, unchanged: 0, deleted: 0, batches: 0, durationMs: 0,
    fromFetch: -1, toFetch: 0,
  };
  for (;;) {
    if (o.signal?.aborted) break;
    const batchStarted = Date.now();
    await client.query('BEGIN');
    try {
      await lockBatchXact(client, schema, o.mode, target);
      const tz = await client.query<{ timezone: string }>(`SELECT timezone FROM qbsync.transform_schemas WHERE schema_name = $1`, [schema]);
      if (tz.rows[0]?.timezone !== o.timezone) {
        throw new QbsyncError(`schema ${schema} now counts rollup days in ${tz.rows[0]?.timezone ?? '(unset)'}, not ${o.timezone}: a replay changed it; run again`);
      }
      await client.query(
        `INSERT INTO qbsync.transform_watermarks (schema_name, target) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
        [schema, target],
      );
      const wm = await client.query<{ last_fetch_id: number }>(
        `SELECT last_fetch_id FROM qbsync.transform_watermarks WHERE schema_name = $1 AND target = $2 FOR UPDATE`,
        [schema, target],
      );
      const from = Number(wm.rows[0].last_fetch_id);
      if (stats.fromFetch < 0) stats.fromFetch = from;
      stats.toFetch = Math.max(from, stats.toFetch);
      if (from >= o.horizon) {
        await client.query('COMMIT');
        break;
      }
      // The next fetches, up to ~batchRecords records (at least one fetch, however large).
      const next = await client.query<{ upto: number | null; fetches: number; records: number }>(
        `SELECT max(id)::bigint AS upto, count(*)::int AS fetches, coalesce(sum(record_count), 0)::bigint AS records
         FROM (SELECT id, record_count, sum(record_count) OVER (ORDER BY id) - record_count AS before
               FROM raw.fetches WHERE entity = $1 AND id > $2 AND id <= $3 ORDER BY id LIMIT $4) x
         WHERE before < $5`,
        [target, from, o.horizon, batchFetches, batchRecords],
      );
      const { upto, fetches, records } = next.rows[0];
      if (upto === null) {
        // Nothing (more) of this entity up to the horizon: the watermark can move there.
        await client.query(
          `UPDATE qbsync.transform_watermarks SET last_fetch_id = $3, updated_at = now() WHERE schema_name = $1 AND target = $2`,
          [schema, target, o.horizon],
        );
        await client.query('COMMIT');
        stats.toFetch = o.horizon;
        break;
      }
      const to = Number(upto);
      await setBatchSettings(client, { schema, mode: o.mode, timezone: o.timezone, entity: target, from, to });
      const staged = await client.query(sqlFile('_incoming'));
      const applied = await client.query(sqlFile(target));
      if (o.mode === 'incremental') await client.query(sqlFile('_rollups'));
      const b = {
        staged: sumColumn(staged, 'staged'),
        inserted: sumColumn(applied, 'inserted'),
        updated: sumColumn(applied, 'updated'),
        deleted: sumColumn(applied, 'deleted'),
      };
      await client.query(
        `UPDATE qbsync.transform_watermarks SET last_fetch_id = $3, updated_at = now(), last_stats = $4
         WHERE schema_name = $1 AND target = $2`,
        [schema, target, to, JSON.stringify({ fetches: Number(fetches), records: Number(records), ...b })],
      );
      await client.query('COMMIT');
      stats.batches++;
      stats.fetches += Number(fetches);
      stats.records += Number(records);
      stats.staged += b.staged;
      stats.inserted += b.inserted;
      stats.updated += b.updated;
      stats.deleted += b.deleted;
      stats.unchanged += b.staged - b.inserted - b.updated;
      stats.toFetch = to;
      o.logger?.debug('transform batch applied', {
        schema, target, mode: o.mode, from_fetch: from, to_fetch: to, fetches: Number(fetches), ...b, ms: Date.now() - batchStarted,
      });
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }
  if (stats.fromFetch < 0) stats.fromFetch = 0;
  stats.durationMs = Date.now() - started;
  return stats;
}
