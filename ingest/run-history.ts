/**
 * qbsync.sync_runs / sync_run_entities: what each run did, for `qbsync status`, the API and alerts.
 * Counters move inside the landing transaction (see landing.ts), so they agree with raw.
 */
import os from 'node:os';
import type pg from 'pg';
import type { EntityName } from './entities.js';
import { SqlParams } from './sql.js';

export type RunMode = 'full' | 'incremental' | 'backfill' | 'replay';
export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'partial' | 'cancelled';

export interface SkippedPage {
  entity: string;
  page: number;
  reason: string;
}

export interface EntityCounters {
  pages: number;
  records: number;
  newBodies: number;
  detailFetches: number;
  requests: number;
  retries: number;
  rateLimited: number;
}

type Q = pg.Pool | pg.PoolClient;

export async function createRun(
  q: Q,
  run: { runId: string; mode: RunMode; entities: readonly string[]; requestedBy?: string; options?: Record<string, unknown>; status?: RunStatus },
): Promise<void> {
  await q.query(
    `INSERT INTO qbsync.sync_runs (run_id, mode, entities, status, requested_by, options, started_at, heartbeat_at, host, pid)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, CASE WHEN $4 = 'running' THEN now() END, now(), $7, $8)
     ON CONFLICT (run_id) DO NOTHING`,
    [run.runId, run.mode, run.entities, run.status ?? 'running', run.requestedBy ?? 'cli', JSON.stringify(run.options ?? {}), os.hostname(), process.pid],
  );
}

/** A queued run (enqueued through the API or the scheduler) is picked up by a worker. */
export async function markRunStarted(q: Q, runId: string): Promise<void> {
  await q.query(
    `UPDATE qbsync.sync_runs SET status = 'running', started_at = coalesce(started_at, now()), heartbeat_at = now(), host = $2, pid = $3
     WHERE run_id = $1`,
    [runId, os.hostname(), process.pid],
  );
}

export async function startRunEntity(q: Q, runId: string, entity: EntityName, totalPages: number | null): Promise<void> {
  await q.query(
    `INSERT INTO qbsync.sync_run_entities (run_id, entity, status, started_at, total_pages)
     VALUES ($1, $2, 'running', now(), $3)
     ON CONFLICT (run_id, entity) DO UPDATE SET status = 'running', total_pages = EXCLUDED.total_pages`,
    [runId, entity, totalPages],
  );
}

export async function setRunEntityTotal(q: Q, runId: string, entity: EntityName, totalPages: number | null): Promise<void> {
  await q.query(`UPDATE qbsync.sync_run_entities SET total_pages = $3 WHERE run_id = $1 AND entity = $2`, [runId, entity, totalPages]);
}

/**
 * The counters' updates (the entity's row, then the run's) as two data-modifying CTE bodies, conditional on `guard`
 * (SQL), for a combined landing statement (full-pass.ts).
 */
export function countersCte(
  p: SqlParams, runId: string, entity: EntityName, c: Partial<EntityCounters>, skipped?: SkippedPage[], guard = 'true',
): { entity: string; run: string } {
  const run = p.add(runId, 'uuid');
  const set = `pages = pages + ${p.add(c.pages ?? 0, 'int')}, records = records + ${p.add(c.records ?? 0, 'int')},
              new_bodies = new_bodies + ${p.add(c.newBodies ?? 0, 'int')}, detail_fetches = detail_fetches + ${p.add(c.detailFetches ?? 0, 'int')},
              requests = requests + ${p.add(c.requests ?? 0, 'int')}, retries = retries + ${p.add(c.retries ?? 0, 'int')},
              rate_limited = rate_limited + ${p.add(c.rateLimited ?? 0, 'int')}, skipped_pages = skipped_pages || ${p.add(JSON.stringify(skipped ?? []), 'jsonb')}`;
  return {
    entity: `UPDATE qbsync.sync_run_entities SET ${set} WHERE run_id = ${run} AND entity = ${p.add(entity)} AND ${guard} RETURNING 1`,
    run: `UPDATE qbsync.sync_runs SET ${set}, heartbeat_at = now() WHERE run_id = ${run} AND ${guard} RETURNING 1`,
  };
}

/** Adds to the run's and the entity's counters (call inside the landing transaction; one statement). */
export async function addCounters(q: Q, runId: string, entity: EntityName, c: Partial<EntityCounters>, skipped?: SkippedPage[]): Promise<void> {
  const p = new SqlParams();
  const cte = countersCte(p, runId, entity, c, skipped);
  await q.query(`WITH e AS (${cte.entity}) ${cte.run.replace(/ RETURNING 1$/, '')}`, p.values);
}

export async function finishRunEntity(q: Q, runId: string, entity: EntityName, status: 'succeeded' | 'failed' | 'partial', error?: string): Promise<void> {
  await q.query(
    `UPDATE qbsync.sync_run_entities SET status = $3, finished_at = now(), error = $4,
            duration_ms = (extract(epoch FROM now() - started_at) * 1000)::int
     WHERE run_id = $1 AND entity = $2`,
    [runId, entity, status, error ?? null],
  );
}

export async function finishRun(q: Q, runId: string, status: RunStatus, error?: string): Promise<void> {
  await q.query(
    `UPDATE qbsync.sync_runs SET status = $2, finished_at = now(), error = $3,
            duration_ms = (extract(epoch FROM now() - coalesce(started_at, created_at)) * 1000)::int
     WHERE run_id = $1`,
    [runId, status, error ?? null],
  );
}

/**
 * Runs left 'running' by a process that died (kill -9, power loss) are closed as failed. Called by the
 * holder of the sync lock, which proves no other sync is alive.
 */
export async function closeAbandonedRuns(q: Q, exceptRunId: string): Promise<number> {
  const r = await q.query(
    `UPDATE qbsync.sync_runs SET status = 'failed', finished_at = now(),
            error = coalesce(error, 'interrupted: the process running it stopped before finishing (resumed by a later run)')
     WHERE status = 'running' AND run_id <> $1 AND mode NOT IN ('replay', 'backfill')`,
    [exceptRunId],
  );
  await q.query(
    `UPDATE qbsync.sync_run_entities e SET status = 'failed', finished_at = now()
     FROM qbsync.sync_runs r WHERE r.run_id = e.run_id AND r.status = 'failed' AND e.status = 'running'`,
  );
  return r.rowCount ?? 0;
}

export interface RunRow {
  run_id: string;
  mode: RunMode;
  entities: string[];
  status: RunStatus;
  requested_by: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  pages: number;
  records: number;
  new_bodies: number;
  detail_fetches: number;
  requests: number;
  retries: number;
  rate_limited: number;
  skipped_pages: SkippedPage[];
  duration_ms: number | null;
  error: string | null;
  options: Record<string, unknown>;
}

export async function listRuns(q: Q, limit = 10): Promise<RunRow[]> {
  const { rows } = await q.query<RunRow>(`SELECT * FROM qbsync.sync_runs ORDER BY created_at DESC LIMIT $1`, [limit]);
  return rows;
}

export async function getRun(q: Q, runId: string): Promise<(RunRow & { entity_rows: unknown[] }) | undefined> {
  const { rows } = await q.query<RunRow>(`SELECT * FROM qbsync.sync_runs WHERE run_id = $1`, [runId]);
  if (!rows[0]) return undefined;
  const ents = await q.query(
    `SELECT entity, status, started_at, finished_at, total_pages, pages, records, new_bodies, detail_fetches, requests, retries,
            rate_limited, skipped_pages, duration_ms, error
     FROM qbsync.sync_run_entities WHERE run_id = $1 ORDER BY started_at NULLS LAST`,
    [runId],
  );
  return { ...rows[0], entity_rows: ents.rows };
}
