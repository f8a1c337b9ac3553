/**
 * Enqueueing work for the workers, each in ONE transaction with the rows that describe it (pg-boss `send`
 * with an executor bound to the transaction's client), so a queued job never lacks its run row or the reverse.
 * The API calls these; so do the CLI and the workers themselves.
 */
import crypto from 'node:crypto';
import type pg from 'pg';
import { newRunId, UsageError, type Database } from '../core/index.js';
import { QUEUES, txExecutor, type PgBoss } from '../core/boss.js';
import {
  createRun, inTransaction, orderEntities, planBackfill, type BackfillRequest, type EntityName, type PlanResult, type RunRow, type SyncMode,
} from '../ingest/index.js';

const ENQUEUE_LOCK = 0x71626571; // 'qbeq'

export interface SyncJobData {
  /** Absent on scheduled (cron) jobs: the worker creates the run when the job starts. */
  runId?: string;
  mode: SyncMode;
  entities: EntityName[];
  requestedBy: string;
}

export interface BackfillChunkJobData {
  chunkId: number;
  backfillId: string;
}

export type BackfillJobData =
  | { action: 'finalize'; backfillId: string }
  | { action: 'plan'; from: string; to: string; entities?: EntityName[]; chunkDays?: number; pageSize?: number; requestedBy?: string };

export interface TransformJobData {
  target: string;
}

export interface EnqueueSyncRequest {
  mode?: SyncMode;
  entities?: readonly EntityName[];
  requestedBy?: string;
}

export interface EnqueueSyncResult {
  runId: string;
  /** True when an equivalent run was already queued and its id is returned instead of a new one. */
  existing: boolean;
  status: RunRow['status'];
}

/** The stately queue keeps one queued job per key: equal requests share a key (and a queued run). */
export function syncKey(mode: SyncMode, entities: readonly EntityName[]): string {
  return `${mode}:${entities.join(',')}`;
}

/**
 * Queues a sync run: inserts the qbsync.sync_runs row (status `queued`) and the pg-boss job in one
 * transaction and returns the run id. When a queued run already covers the request (same entities or more;
 * same mode, or a full one), that run's id is returned instead (`existing: true`). A running sync does not
 * count: it started before this request and may miss what prompted it, so a new run is queued behind it
 * (the sync lock runs them one after the other).
 */
export async function enqueueSync(db: Database, boss: PgBoss, req: EnqueueSyncRequest = {}): Promise<EnqueueSyncResult> {
  const mode = req.mode ?? 'incremental';
  const entities = orderEntities(req.entities);
  const requestedBy = req.requestedBy ?? 'api';
  return inTransaction(db.pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1, 1)', [ENQUEUE_LOCK]);
    const { rows: queued } = await c.query<{ run_id: string; mode: SyncMode; entities: string[] }>(
      `SELECT run_id, mode, entities FROM qbsync.sync_runs WHERE status = 'queued' AND mode IN ('full', 'incremental') ORDER BY created_at`,
    );
    const cover = queued.find((r) => (r.mode === mode || r.mode === 'full') && entities.every((e) => r.entities.includes(e)));
    if (cover) return { runId: cover.run_id, existing: true, status: 'queued' as const };
    const runId = newRunId();
    await createRun(c, { runId, mode, entities, requestedBy, status: 'queued' });
    const data: SyncJobData = { runId, mode, entities, requestedBy };
    const jobId = await boss.send(QUEUES.sync, data, { singletonKey: syncKey(mode, entities), db: txExecutor(c) });
    if (!jobId) {
      // A job with this key is already queued without a queued run row (its run was recorded otherwise):
      // hand this request to that job.
      const { rows: [job] } = await c.query<{ id: string; run_id: string | null }>(
        `SELECT id, data->>'runId' AS run_id FROM pgboss.job WHERE name = $1 AND singleton_key = $2 AND state IN ('created', 'retry') LIMIT 1`,
        [QUEUES.sync, syncKey(mode, entities)],
      );
      if (job?.run_id) {
        await c.query(`DELETE FROM qbsync.sync_runs WHERE run_id = $1`, [runId]);
        await c.query(`UPDATE qbsync.sync_runs SET status = 'queued' WHERE run_id = $1 AND status NOT IN ('running')`, [job.run_id]);
        return { runId: job.run_id, existing: true, status: 'queued' as const };
      }
      throw new Error('the sync queue refused the job and holds no queued run to join; try again');
    }
    return { runId, existing: false, status: 'queued' as const };
  });
}

/** Sends one job per chunk with the transaction's client, recording each job id on its chunk. */
export async function sendChunkJobs(tx: pg.PoolClient, boss: PgBoss, plan: Pick<PlanResult, 'open' | 'backfill'>, chunkIds?: number[]): Promise<number> {
  // A chunk whose job is still queued or running keeps it (a re-run of the same backfill adds no duplicates).
  const { rows: alive } = await tx.query<{ chunk_id: number }>(
    `SELECT c.chunk_id FROM qbsync.backfill_chunks c JOIN pgboss.job j ON j.name = $2 AND j.id = c.job_id
     WHERE c.backfill_id = $1 AND j.state IN ('created', 'retry', 'active')`,
    [plan.backfill.backfill_id, QUEUES.backfillChunk],
  );
  const skip = new Set(alive.map((r) => r.chunk_id));
  const chunks = plan.open.filter((c) => (!chunkIds || chunkIds.includes(c.chunk_id)) && !skip.has(c.chunk_id));
  if (!chunks.length) return 0;
  const order = plan.backfill.entities;
  const jobs = chunks.map((c) => ({
    id: crypto.randomUUID(),
    name: QUEUES.backfillChunk,
    data: { chunkId: c.chunk_id, backfillId: c.backfill_id } satisfies BackfillChunkJobData,
    // Parents first: pg-boss fetches higher priority first.
    priority: order.length - order.indexOf(c.entity),
  }));
  await boss.insert(jobs, { db: txExecutor(tx) });
  await tx.query(
    `UPDATE qbsync.backfill_chunks c SET job_id = j.job_id FROM unnest($1::bigint[], $2::uuid[]) AS j(chunk_id, job_id) WHERE c.chunk_id = j.chunk_id`,
    [jobs.map((j) => j.data.chunkId), jobs.map((j) => j.id)],
  );
  return jobs.length;
}

export interface EnqueueBackfillResult extends PlanResult {
  /** The backfill's id, which is also its qbsync.sync_runs run id (mode 'backfill'). */
  runId: string;
  /** Chunk jobs queued by this call. */
  queued: number;
}

/** A backfill request as the API sends it (dates as strings) or as the CLI does (Dates). */
export type EnqueueBackfillRequest = Omit<BackfillRequest, 'from' | 'to'> & { from: Date | string; to: Date | string };

function toDate(v: Date | string, name: string): Date {
  const d = v instanceof Date ? v : new Date(v);
  if (Number.isNaN(d.getTime())) throw new UsageError(`${name} is not a date: ${String(v)}`);
  return d;
}

/**
 * Plans a backfill (or finds the same one: same entity set and range) and queues a job for every chunk not
 * done yet, in one transaction. Chunks already done are skipped; a chunk queued twice is still worked once.
 */
export async function enqueueBackfill(db: Database, boss: PgBoss, req: EnqueueBackfillRequest): Promise<EnqueueBackfillResult> {
  let queued = 0;
  const plan = await planBackfill(db, { ...req, from: toDate(req.from, 'from'), to: toDate(req.to, 'to') }, async (tx, p) => {
    queued = await sendChunkJobs(tx, boss, p);
  });
  return { ...plan, runId: plan.backfill.backfill_id, queued };
}

export interface ReplayJobData {
  runId: string;
  entities: string[];
  requestedBy: string;
}

/** Queues a replay (rebuild of the typed tables from raw) as a queued run (mode 'replay') and its job, in one transaction. */
export async function enqueueReplay(db: Database, boss: PgBoss, req: { entities?: readonly string[]; requestedBy?: string } = {}): Promise<{ runId: string; existing: boolean }> {
  return inTransaction(db.pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1, 2)', [ENQUEUE_LOCK]);
    const entities = [...(req.entities ?? [])];
    const { rows: [queued] } = await c.query<{ run_id: string }>(
      `SELECT run_id FROM qbsync.sync_runs WHERE status = 'queued' AND mode = 'replay' AND entities = $1 ORDER BY created_at LIMIT 1`, [entities],
    );
    if (queued) return { runId: queued.run_id, existing: true };
    const runId = newRunId();
    await createRun(c, { runId, mode: 'replay', entities, requestedBy: req.requestedBy ?? 'api', status: 'queued' });
    const data: ReplayJobData = { runId, entities, requestedBy: req.requestedBy ?? 'api' };
    const jobId = await boss.send(QUEUES.replay, data, { singletonKey: `replay:${entities.join(',')}`, db: txExecutor(c) });
    if (!jobId) throw new Error('the replay queue already holds a queued replay of these entities without a queued run; try again');
    return { runId, existing: false };
  });
}

/** Queues the finalize step of a backfill (recovery, transforms, volumetry) for a worker. */
export async function enqueueBackfillFinalize(boss: PgBoss, backfillId: string, db?: pg.PoolClient): Promise<string | null> {
  const data: BackfillJobData = { action: 'finalize', backfillId };
  return boss.send(QUEUES.backfill, data, db ? { db: txExecutor(db) } : {});
}

/** Queues the transform of one target; the stately queue keeps at most one queued per target (a burst coalesces). */
export async function enqueueTransform(boss: PgBoss, target: string, tx?: pg.PoolClient): Promise<string | null> {
  const data: TransformJobData = { target };
  return boss.send(QUEUES.transform, data, { singletonKey: target, ...(tx ? { db: txExecutor(tx) } : {}) });
}
