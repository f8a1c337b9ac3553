/** Run history queries the ingest surface does not have (filters). */
import type pg from 'pg';
import type { RunRow } from '../../ingest/index.js';

/** Runs newest first, filtered by status and/or mode. */
export async function listRunsFiltered(pool: pg.Pool, q: { limit: number; status?: string; mode?: string }): Promise<RunRow[]> {
  const { rows } = await pool.query<RunRow>(
    `SELECT * FROM qbsync.sync_runs
     WHERE ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR mode = $3)
     ORDER BY created_at DESC LIMIT $1`,
    [q.limit, q.status ?? null, q.mode ?? null],
  );
  return rows;
}
