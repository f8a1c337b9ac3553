/**
 * Per-entity checkpoint of a full pass (qbsync.checkpoints): the next page to fetch, moved in the same
 * transaction that lands the page before it. A pass keeps the page size it started with, so page N
 * always means the same slice of the id-ordered list when a later run resumes it.
 */
import type pg from 'pg';
import type { EntityName } from './entities.js';
import { SqlParams } from './sql.js';

type Q = pg.Pool | pg.PoolClient;

export interface Checkpoint {
  entity: EntityName;
  pass_id: string;
  mode: string;
  status: 'running' | 'completed' | 'failed';
  next_page: number;
  total_pages: number | null;
  page_size: number;
  records: number;
  last_run_id: string | null;
  started_at: Date;
  completed_at: Date | null;
  updated_at: Date;
  server_started_at: Date | null;
  message: string | null;
}

export async function getCheckpoint(q: Q, entity: EntityName): Promise<Checkpoint | undefined> {
  const { rows } = await q.query<Checkpoint>(`SELECT * FROM qbsync.checkpoints WHERE entity = $1`, [entity]);
  return rows[0];
}

export async function listCheckpoints(q: Q): Promise<Checkpoint[]> {
  const { rows } = await q.query<Checkpoint>(`SELECT * FROM qbsync.checkpoints ORDER BY entity`);
  return rows;
}

/** Starts a new pass from page 1 (replacing a completed or abandoned one). */
export async function beginPass(q: Q, entity: EntityName, passId: string, mode: string, pageSize: number): Promise<Checkpoint> {
  const { rows } = await q.query<Checkpoint>(
    `INSERT INTO qbsync.checkpoints (entity, pass_id, mode, status, next_page, total_pages, page_size, records, last_run_id, started_at, updated_at)
     VALUES ($1, $2, $3, 'running', 1, NULL, $4, 0, $2, now(), now())
     ON CONFLICT (entity) DO UPDATE SET pass_id = $2, mode = $3, status = 'running', next_page = 1, total_pages = NULL,
       page_size = $4, records = 0, last_run_id = $2, started_at = now(), completed_at = NULL, updated_at = now(),
       server_started_at = NULL, message = NULL
     RETURNING *`,
    [entity, passId, mode, pageSize],
  );
  return rows[0];
}

export async function claimPass(q: Q, entity: EntityName, runId: string): Promise<void> {
  await q.query(`UPDATE qbsync.checkpoints SET last_run_id = $2, status = 'running', updated_at = now() WHERE entity = $1`, [entity, runId]);
}

export interface AdvanceArgs {
  entity: EntityName;
  passId: string;
  /** The page the checkpoint must be at (the first page landed). */
  fromPage: number;
  /** The last page landed: the checkpoint moves to the page after it. */
  toPage: number;
  totalPages: number | null;
  records: number;
  serverDate: Date | null;
  /** The pass ends with these pages (status completed, watermark set, in the same landing statement). */
  complete?: boolean;
}

/**
 * The checkpoint's move past pages fromPage..toPage (and, with `complete`, the pass's completion) as an UPDATE that
 * returns one row — `since`, the watermark a completed full pass sets — only when the checkpoint was at fromPage,
 * for a combined landing statement (full-pass.ts).
 */
export function advanceCte(p: SqlParams, a: AdvanceArgs): string {
  const complete = p.add(!!a.complete, 'boolean');
  return `UPDATE qbsync.checkpoints SET next_page = ${p.add(a.toPage, 'int')} + 1, total_pages = coalesce(${p.add(a.totalPages, 'int')}, total_pages),
            records = records + ${p.add(a.records, 'int')}, updated_at = now(), server_started_at = coalesce(server_started_at, ${p.add(a.serverDate, 'timestamptz')}),
            status = CASE WHEN ${complete} THEN 'completed' ELSE status END,
            completed_at = CASE WHEN ${complete} THEN now() ELSE completed_at END,
            message = CASE WHEN ${complete} THEN NULL ELSE message END
     WHERE entity = ${p.add(a.entity)} AND pass_id = ${p.add(a.passId)} AND next_page = ${p.add(a.fromPage, 'int')}
     RETURNING coalesce(server_started_at, started_at) AS since`;
}

/** The error when the checkpoint was not where the landing expected it. */
export function checkpointMoved(entity: EntityName, page: number): Error {
  // Another process moved this pass (it should be impossible while we hold the sync lock), or Postgres
  // crashed and lost the last landings (they commit asynchronously): stop rather than land out of order.
  return new Error(
    `checkpoint for ${entity} moved under us (expected next page ${page}): another sync running without the lock, ` +
      `or Postgres restarted and lost the last pages landed; the next sync resumes from the checkpoint`,
  );
}

/** Moves the checkpoint past `page` (inside the landing transaction). */
export async function advance(
  q: Q, entity: EntityName, passId: string, page: number, totalPages: number | null, records: number, serverDate: Date | null,
): Promise<void> {
  const p = new SqlParams();
  const r = await q.query(advanceCte(p, { entity, passId, fromPage: page, toPage: page, totalPages, records, serverDate }), p.values);
  if (r.rowCount !== 1) throw checkpointMoved(entity, page);
}

export interface Watermark {
  entity: EntityName;
  since_at: Date;
  source: 'full' | 'updates' | 'window' | 'reset';
  last_run_id: string | null;
  updated_at: Date;
}

export async function getWatermark(q: Q, entity: EntityName): Promise<Watermark | undefined> {
  const { rows } = await q.query<Watermark>(`SELECT * FROM qbsync.watermarks WHERE entity = $1`, [entity]);
  return rows[0];
}

export async function listWatermarks(q: Q): Promise<Watermark[]> {
  const { rows } = await q.query<Watermark>(`SELECT * FROM qbsync.watermarks ORDER BY entity`);
  return rows;
}

/**
 * The watermark upsert as a data-modifying CTE body: `sinceSql` is a SELECT returning the column `since` (no row:
 * nothing is written).
 */
export function watermarkCte(p: SqlParams, entity: EntityName, sinceSql: string, source: Watermark['source'], runId: string | null): string {
  return `INSERT INTO qbsync.watermarks (entity, since_at, source, last_run_id, updated_at)
     SELECT ${p.add(entity)}, s.since, ${p.add(source)}, ${p.add(runId, 'uuid')}, now() FROM (${sinceSql}) s
     ON CONFLICT (entity) DO UPDATE SET since_at = EXCLUDED.since_at, source = EXCLUDED.source, last_run_id = EXCLUDED.last_run_id, updated_at = now()`;
}

export async function setWatermark(q: Q, entity: EntityName, since: Date, source: Watermark['source'], runId: string | null): Promise<void> {
  await q.query(
    `INSERT INTO qbsync.watermarks (entity, since_at, source, last_run_id, updated_at) VALUES ($1, $2, $3, $4, now())
     ON CONFLICT (entity) DO UPDATE SET since_at = $2, source = $3, last_run_id = $4, updated_at = now()`,
    [entity, since, source, runId],
  );
}

export async function failPass(q: Q, entity: EntityName, passId: string, message: string): Promise<void> {
  await q.query(`UPDATE qbsync.checkpoints SET status = 'failed', updated_at = now(), message = $3 WHERE entity = $1 AND pass_id = $2`, [
    entity, passId, message,
  ]);
}
