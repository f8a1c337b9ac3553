/**
 * A qbsync worker: pg-boss handlers for syncs, transforms, backfills and backfill chunks, on the shared
 * Postgres. Any number of workers, on any machines, may run against one database:
 *
 * - every QBench request of every worker takes a slot of one PgRateBudget (qbsync.rate_budget_slots), so
 *   together they stay under QBench's 300 requests / 60 s;
 * - a sync runs under the sync lock (one at a time per database); the stately sync queue keeps at most one
 *   queued job per request shape; a scheduled (cron) sync that finds a sync running is recorded as skipped;
 * - a backfill chunk runs under its own advisory lock, so a chunk queued twice (or re-queued by the reaper)
 *   is still worked once, and the chunk that finishes a backfill finalizes it (recovery, transforms,
 *   volumetry);
 * - every landing transaction queues the entity's transform job on the same client (stately: a burst of
 *   pages leaves one queued run per target).
 *
 * Stopping (SIGINT/SIGTERM through core's onShutdown, or `stop()`): no new jobs are fetched; a sync or chunk
 * in flight stops after landing the page it is on (a page is landed whole or not at all; the next run
 * resumes from the checkpoint); anything still running after the grace period is aborted; then
 * `boss.stop({ graceful: true })`.
 *
 * A reaper (at start and every 30 s) repairs what dead processes leave behind: chunks marked running whose
 * lock is free go back to pending with a new job, pending chunks whose job is gone get one, backfills whose
 * chunks are all finished but were never finalized get a finalize job, and active sync/transform jobs whose
 * process is gone (seen twice in a row) are failed so pg-boss retries them instead of blocking the stately
 * queue until they expire.
 */
import { setMaxListeners } from 'node:events';
import pg from 'pg';
import { newRunId, errorMessage, onShutdown, ConfigError, guardCheckedOutClients, type Config, type Database, type Logger } from '../core/index.js';
import { QUEUES, startBoss, txExecutor, type PgBoss } from '../core/boss.js';
import {
  makeClient, runSync, runChunk, finishRun, markRunStarted, finalizeBackfill, orphanedChunks, unfinalizedBackfills, getRun, createRun, syncLockHeld,
  SyncBusyError, PgRateBudget, orderEntities, type ChunkDeps, type EntityName, type MakeClientOptions, type RateBudget, type RequestCounter,
} from '../ingest/index.js';
import { applyTransforms, replayTargets } from './transform.js';
import { enqueueBackfill, enqueueBackfillFinalize, syncKey, type BackfillChunkJobData, type BackfillJobData, type ReplayJobData, type SyncJobData, type TransformJobData } from './enqueue.js';
import { setSyncSchedule } from './schedule.js';
import { createAlerter } from '../ops/alerts.js';

const JOB_LOCK = 0x71626a62; // 'qbjb' — held while a transform job runs (for the reaper)

export interface WorkerOptions {
  db: Database;
  config: Config;
  logger: Logger;
  /** QBench (or simulator) base URL. */
  baseUrl: string;
  /** Backfill chunks worked at once (default 2). */
  concurrency?: number;
  /** pg-boss polling interval (default and minimum 0.5 s). */
  pollingIntervalSeconds?: number;
  /** Client overrides (tests: short backoffs). */
  clientOverrides?: MakeClientOptions['overrides'];
  /** Default: a PgRateBudget with the configured limit and window, shared through the database. */
  rateBudget?: RateBudget;
  /** Stop on SIGINT/SIGTERM through core's onShutdown (the CLI sets this; tests call stop()). */
  installSignalHandlers?: boolean;
  reapIntervalMs?: number;
  /** How long jobs in flight may take to reach the end of their page after a stop before they are aborted. */
  stopGraceMs?: number;
  /** Run pg-boss's cron clock in this worker (default true). */
  schedule?: boolean;
}

export interface Worker {
  readonly boss: PgBoss;
  /** Jobs running now. */
  active(): number;
  /** Resolves when the worker has stopped. */
  readonly stopped: Promise<void>;
  stop(): Promise<void>;
  /** One reaper pass (also run on a timer). */
  reap(): Promise<void>;
}

export async function startWorker(opts: WorkerOptions): Promise<Worker> {
  const { db, config, logger } = opts;
  const concurrency = Math.max(1, opts.concurrency ?? 2);
  const polling = Math.max(0.5, opts.pollingIntervalSeconds ?? 0.5);
  const budget = opts.rateBudget ?? new PgRateBudget(db.pool, { limit: config.qbench.rateLimit, windowMs: config.qbench.rateWindowSeconds * 1000 });
  // Locks held for a whole job (chunk, transform) live on their own connections, so they can never take
  // the last connection a landing transaction needs.
  const lockPool = new pg.Pool({ connectionString: db.url, max: concurrency + 4, application_name: 'qbsync-worker-locks' });
  lockPool.on('error', (err) => logger.warn('idle lock connection lost', { error: err.message }));
  guardCheckedOutClients(lockPool, logger); // a lock connection lost mid-job fails that job, not the process
  if (config.syncCron) {
    // Applied before this worker's pg-boss clock starts, so its first cron check already sees it.
    const admin = await startBoss(db.url, logger, { schedule: false, supervise: false });
    try {
      await setSyncSchedule(admin, config.syncCron, config.timezone);
    } catch (err) {
      await lockPool.end().catch(() => undefined);
      throw new ConfigError([`QBSYNC_SYNC_CRON ${errorMessage(err)}`]);
    } finally {
      await admin.stop({ graceful: false, wait: true }).catch(() => undefined);
    }
    logger.info(`scheduled incremental syncs: "${config.syncCron}" (${config.timezone})`);
  }
  const boss = await startBoss(db.url, logger, { schedule: opts.schedule ?? true });

  const abort = new AbortController();
  // One signal for every request of every job: more listeners than node's default warning threshold is normal.
  setMaxListeners(0, abort.signal);
  let stopRequested = false;
  let running = 0;
  let stopping: Promise<void> | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));

  const client = (onEvent?: RequestCounter['onEvent']) =>
    makeClient(config, { baseUrl: opts.baseUrl, logger, onEvent, rateBudget: budget, overrides: opts.clientOverrides });

  /** Queues the entity's transform in the landing transaction; after a stop request, ends the job after this page. */
  const onLanded = async (tx: pg.PoolClient, entity: EntityName) => {
    await boss.send(QUEUES.transform, { target: entity } satisfies TransformJobData, { singletonKey: entity, db: txExecutor(tx) });
    if (stopRequested) abort.abort(new Error('worker stopping'));
  };

  const transform = (entities: string[]) => applyTransforms(db, entities, { logger, timezone: config.timezone, signal: abort.signal });

  const chunkDeps: ChunkDeps = {
    db, logger, signal: abort.signal, onLanded, transform, lockPool, stopRequested: () => stopRequested,
    makeClient: (onEvent) => client(onEvent),
  };

  /** Wraps a handler: counts jobs in flight (for stop) and hands pg-boss the job's outcome as its output. */
  const tracked = <D>(handler: (job: PgBoss.Job<D>) => Promise<unknown>) => async (jobs: Array<PgBoss.Job<D>>): Promise<unknown> => {
    running++;
    try {
      let out: unknown;
      for (const j of jobs) {
        try {
          out = await handler(j);
        } catch (err) {
          logger.error(`${j.name} job ${j.id} failed: ${errorMessage(err)} (pg-boss retries it while retries remain)`, { queue: j.name, job_id: j.id });
          throw err;
        }
      }
      return out;
    } finally {
      running--;
    }
  };

  // ------------------------------------------------------------------------------------------ sync
  const recordSkipped = async (data: SyncJobData, why: string) => {
    const runId = newRunId();
    await createRun(db.pool, { runId, mode: data.mode, entities: data.entities, requestedBy: data.requestedBy, status: 'cancelled' });
    await finishRun(db.pool, runId, 'cancelled', `skipped: ${why}`);
    logger.info(`scheduled sync skipped: ${why}`, { run_id: runId });
  };

  // Webhook alerts after each sync (ops/alerts.ts): fire and forget, never blocks or fails the job.
  const alerter = createAlerter({ config, logger, pool: db.pool });

  const handleSync = async (job: PgBoss.Job<SyncJobData>) => {
    const d = job.data;
    const scheduled = !d.runId;
    if (scheduled && (await syncLockHeld(db.pool))) {
      await recordSkipped(d, 'another sync was running');
      return { skipped: true };
    }
    if (d.runId) {
      const run = await getRun(db.pool, d.runId);
      if (!run) {
        logger.warn(`sync job ${job.id} names run ${d.runId}, which does not exist; ignored`);
        return { skipped: true };
      }
      if (run.status === 'succeeded' || run.status === 'partial') return { status: run.status };
    }
    try {
      const out = await runSync(
        { db, logger, signal: abort.signal, onLanded, pageSize: config.qbench.pageSize, bodyWorkers: config.bodyWorkers, makeClient: (onEvent) => client(onEvent) },
        { runId: d.runId, mode: d.mode, entities: d.entities.length ? d.entities : undefined, requestedBy: d.requestedBy, wait: !scheduled },
      );
      void alerter.afterSync(out);
      // Stopped by a shutdown: queue the same run again; the next worker resumes it from the checkpoints
      // (unless an equivalent run is queued already, which will do that work).
      if (out.status === 'cancelled' && stopRequested && !scheduled) {
        await boss.send(QUEUES.sync, d, { singletonKey: syncKey(d.mode, orderEntities(d.entities)) });
        return { status: out.status, runId: out.runId, requeued: true };
      }
      return { status: out.status, runId: out.runId };
    } catch (err) {
      if (err instanceof SyncBusyError && scheduled) {
        await recordSkipped(d, 'another sync was running');
        return { skipped: true };
      }
      if (!stopRequested) void alerter.afterSyncError(d.runId, err);
      throw err;
    }
  };

  // ------------------------------------------------------------------------------------------ transform
  const handleTransform = async (job: PgBoss.Job<TransformJobData>) => {
    const c = await lockPool.connect();
    try {
      await c.query('SELECT pg_advisory_lock($1, hashtext($2))', [JOB_LOCK, job.id]);
      await applyTransforms(db, [job.data.target], { logger, timezone: config.timezone, signal: abort.signal });
      return { target: job.data.target };
    } finally {
      await c.query('SELECT pg_advisory_unlock($1, hashtext($2))', [JOB_LOCK, job.id]).catch(() => undefined);
      c.release();
    }
  };

  const handleReplay = async (job: PgBoss.Job<ReplayJobData>) => {
    const { runId, entities } = job.data;
    const run = await getRun(db.pool, runId);
    if (!run || run.status === 'succeeded') return { skipped: true };
    await markRunStarted(db.pool, runId);
    try {
      await replayTargets(db, entities, { logger: logger.child({ run_id: runId }), timezone: config.timezone, signal: abort.signal });
      await finishRun(db.pool, runId, 'succeeded');
      return { status: 'succeeded' };
    } catch (err) {
      await finishRun(db.pool, runId, abort.signal.aborted ? 'cancelled' : 'failed', errorMessage(err));
      throw err;
    }
  };

  // ------------------------------------------------------------------------------------------ backfill
  const requeueChunk = async (chunkId: number, backfillId: string) => {
    const id = await boss.send(QUEUES.backfillChunk, { chunkId, backfillId } satisfies BackfillChunkJobData, { startAfter: 2 });
    if (id) await db.pool.query(`UPDATE qbsync.backfill_chunks SET job_id = $2 WHERE chunk_id = $1`, [chunkId, id]);
  };

  const handleChunk = async (job: PgBoss.Job<BackfillChunkJobData>) => {
    const out = await runChunk(chunkDeps, job.data.chunkId);
    if (out.state === 'retry') throw new Error(out.error ?? 'chunk failed');
    if (out.state === 'cancelled') await requeueChunk(job.data.chunkId, job.data.backfillId);
    if ((out.state === 'done' || out.state === 'failed') && out.lastOpen && out.backfillId && !stopRequested) {
      await finalizeBackfill(chunkDeps, out.backfillId);
    }
    return { state: out.state, pages: out.pages, rows: out.rows };
  };

  const handleBackfill = async (job: PgBoss.Job<BackfillJobData>) => {
    const d = job.data;
    if (d.action === 'finalize') {
      const r = await finalizeBackfill(chunkDeps, d.backfillId);
      return { finalized: !!r, status: r?.backfill.status };
    }
    const plan = await enqueueBackfill(db, boss, {
      from: new Date(d.from), to: new Date(d.to), entities: d.entities, chunkDays: d.chunkDays, pageSize: d.pageSize, requestedBy: d.requestedBy,
    });
    return { backfillId: plan.backfill.backfill_id, queued: plan.queued };
  };

  // ------------------------------------------------------------------------------------------ reaper
  const suspects = new Set<string>();
  const reap = async () => {
    if (stopRequested) return;
    try {
      for (const o of await orphanedChunks(db.pool)) {
        const r = await db.pool.query(`UPDATE qbsync.backfill_chunks SET status = 'pending' WHERE chunk_id = $1 AND status = 'running'`, [o.chunk_id]);
        if (r.rowCount) {
          logger.warn(`backfill chunk ${o.chunk_id} was left running by a process that stopped; queued again`);
          await requeueChunk(o.chunk_id, o.backfill_id);
        }
      }
      const { rows: jobless } = await db.pool.query<{ chunk_id: number; backfill_id: string }>(
        `SELECT c.chunk_id, c.backfill_id FROM qbsync.backfill_chunks c JOIN qbsync.backfills b USING (backfill_id)
         WHERE b.status = 'running' AND c.status = 'pending'
           AND NOT EXISTS (SELECT 1 FROM pgboss.job j WHERE j.name = $1 AND j.id = c.job_id AND j.state IN ('created', 'retry', 'active'))`,
        [QUEUES.backfillChunk],
      );
      for (const c of jobless) await requeueChunk(c.chunk_id, c.backfill_id);
      for (const id of await unfinalizedBackfills(db.pool)) {
        const { rows } = await db.pool.query(
          `SELECT 1 FROM pgboss.job WHERE name = $1 AND state IN ('created', 'retry', 'active') AND data->>'backfillId' = $2 LIMIT 1`, [QUEUES.backfill, id],
        );
        if (!rows.length) await enqueueBackfillFinalize(boss, id);
      }
      // Active stately jobs whose process is gone block their key until they expire: fail them (pg-boss retries).
      const { rows: active } = await db.pool.query<{ id: string; name: string }>(
        `SELECT id, name FROM pgboss.job WHERE name = ANY($1) AND state = 'active' AND started_on < now() - interval '60 seconds'`,
        [[QUEUES.sync, QUEUES.transform]],
      );
      const syncHeld = await syncLockHeld(db.pool);
      const seen = new Set<string>();
      for (const j of active) {
        let dead: boolean;
        if (j.name === QUEUES.sync) dead = !syncHeld;
        else {
          const { rows: [h] } = await db.pool.query<{ held: boolean }>(
            `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::bigint::oid AND objid = hashtext($2)::oid
                            AND objsubid = 2 AND granted) AS held`,
            [JOB_LOCK, j.id],
          );
          dead = !h.held;
        }
        if (!dead) continue;
        seen.add(j.id);
        if (suspects.has(j.id)) {
          logger.warn(`${j.name} job ${j.id} is active but its process is gone; failing it so it is retried`);
          await boss.fail(j.name, j.id, { error: 'worker process gone' });
        }
      }
      suspects.clear();
      for (const id of seen) suspects.add(id);
    } catch (err) {
      if (!stopRequested) logger.warn(`worker reaper: ${errorMessage(err)}`);
    }
  };

  // ------------------------------------------------------------------------------------------ start
  const workOpts = { batchSize: 1, pollingIntervalSeconds: polling };
  await boss.work<SyncJobData>(QUEUES.sync, workOpts, tracked(handleSync));
  await boss.work<TransformJobData>(QUEUES.transform, workOpts, tracked(handleTransform));
  await boss.work<BackfillJobData>(QUEUES.backfill, workOpts, tracked(handleBackfill));
  await boss.work<ReplayJobData>(QUEUES.replay, workOpts, tracked(handleReplay));
  for (let i = 0; i < concurrency; i++) await boss.work<BackfillChunkJobData>(QUEUES.backfillChunk, workOpts, tracked(handleChunk));
  await reap();
  const reaper = setInterval(() => void reap(), opts.reapIntervalMs ?? 30_000);
  reaper.unref();
  logger.info(`worker started: ${concurrency} backfill chunk(s) at once, QBench budget ${config.qbench.rateLimit} requests / ${config.qbench.rateWindowSeconds} s shared through Postgres`);

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      stopRequested = true;
      clearInterval(reaper);
      logger.info('worker stopping: no new jobs; jobs in flight stop after the page they are on');
      for (const q of Object.values(QUEUES)) await boss.offWork(q);
      const grace = setTimeout(() => abort.abort(new Error('worker stopping')), opts.stopGraceMs ?? 10_000);
      while (running > 0) await new Promise((r) => setTimeout(r, 50));
      clearTimeout(grace);
      await boss.stop({ graceful: true, wait: true, timeout: 30_000 });
      await lockPool.end().catch(() => undefined);
      logger.info('worker stopped');
      resolveStopped();
    })();
    return stopping;
  };
  if (opts.installSignalHandlers) onShutdown(stop);

  return { boss, active: () => running, stopped, stop, reap };
}
