/**
 * One sync run over a set of entities, in dependency order, under the sync lock. Decides per entity
 * whether to run (or resume) a full pass or an incremental catch-up, records the run, and turns every
 * outcome — success, skipped pages, a QBench or database failure, cancellation — into the run's status.
 */
import os from 'node:os';
import { errorMessage, newRunId, type Logger } from '../core/index.js';
import type { Database } from '../core/database.js';
import { ENTITY_NAMES, type EntityName } from './entities.js';
import type { QBenchClient } from './client/index.js';
import { acquireSyncLock } from './sync-lock.js';
import * as history from './run-history.js';
import { getCheckpoint } from './checkpoints.js';
import { runFullPass, type PassContext } from './full-pass.js';
import { runIncremental } from './incremental.js';
import { silentProgress, type ProgressSink } from './progress.js';
import { RequestCounter } from './request-counter.js';
import { recoverParents, type RecoveryResult } from './parents.js';
import { IndexFollower } from './raw-index.js';
import { BodyPool } from './body-pool.js';

/**
 * full: a full pass over every requested entity (resuming an interrupted one).
 * incremental (default): catch up on changes since the watermark; entities never fully synced, or
 * whose full pass was interrupted, get (or resume) their full pass first.
 */
export type SyncMode = 'full' | 'incremental';

export interface SyncRequest {
  mode?: SyncMode;
  entities?: readonly EntityName[];
  /** Use this run id (a run queued through the API or scheduler); default a new one. */
  runId?: string;
  requestedBy?: string;
  /** Wait for a running sync to finish instead of failing. */
  wait?: boolean;
  pageSize?: number;
}

export interface SyncDeps {
  db: Database;
  /** Built per run so its request counter can be wired to this run's events. */
  makeClient: (onEvent: RequestCounter['onEvent']) => QBenchClient;
  logger: Logger;
  progress?: ProgressSink;
  signal?: AbortSignal;
  pageSize?: number;
  /** See PassContext.onLanded. */
  onLanded?: PassContext['onLanded'];
  /** Worker threads that prepare page bodies during full passes (body-pool.ts; config QBSYNC_BODY_WORKERS); 0: none. */
  bodyWorkers?: number;
  /**
   * After the entities: fetch by id the parents of landed records that raw does not hold (ingest/parents.ts).
   * Default on; `false` skips it, a number caps the parents fetched per entity.
   */
  recoverParents?: boolean | number;
}

export interface EntityOutcome {
  entity: EntityName;
  mode: 'full' | 'incremental';
  status: 'succeeded' | 'partial' | 'failed' | 'cancelled';
  pages: number;
  records: number;
  error?: string;
}

export interface SyncOutcome {
  runId: string;
  status: history.RunStatus;
  entities: EntityOutcome[];
  requests: number;
  retries: number;
  rateLimited: number;
  durationMs: number;
  error?: string;
  /** Parent recovery after the entities (absent when it did not run). */
  recovery?: RecoveryResult;
}

export function orderEntities(entities?: readonly EntityName[]): EntityName[] {
  return ENTITY_NAMES.filter((e) => !entities?.length || entities.includes(e));
}

export async function runSync(deps: SyncDeps, req: SyncRequest = {}): Promise<SyncOutcome> {
  const started = Date.now();
  const runId = req.runId ?? newRunId();
  const logger = deps.logger.child({ run_id: runId });
  const progress = deps.progress ?? silentProgress;
  const entities = orderEntities(req.entities);
  const mode = req.mode ?? 'incremental';
  const pageSize = req.pageSize ?? deps.pageSize ?? 50;
  const { pool } = deps.db;

  const lock = await acquireSyncLock(pool, { wait: req.wait, signal: deps.signal });
  // The per-record index of raw follows the landings in the background, for the parent recovery that reads it at the
  // end; a run without that recovery leaves it to its readers (the transform job indexes what it needs).
  const follower = deps.recoverParents !== false ? new IndexFollower(pool, logger) : null;
  const counter = new RequestCounter();
  let bodies: BodyPool | undefined;
  const outcomes: EntityOutcome[] = [];
  let runStatus: history.RunStatus = 'succeeded';
  let runError: string | undefined;
  let recovery: RecoveryResult | undefined;
  try {
    const abandoned = await history.closeAbandonedRuns(pool, runId);
    if (abandoned) logger.warn(`closed ${abandoned} run(s) left running by a process that stopped; their work resumes now`);
    const existing = await history.getRun(pool, runId);
    if (existing) await history.markRunStarted(pool, runId);
    else await history.createRun(pool, { runId, mode, entities, requestedBy: req.requestedBy, options: { pageSize } });
    logger.info(`sync started (${mode}) for ${entities.join(', ')}`, { mode, entities, host: os.hostname() });
    const client = deps.makeClient(counter.onEvent);
    const passProgress: ProgressSink = { ...progress, pageLanded: (e, info) => (progress.pageLanded(e, info), follower?.pageLanded()) };
    const ctx: PassContext = { db: deps.db, client, logger, runId, progress: passProgress, counter, signal: deps.signal, onLanded: deps.onLanded };

    for (const entity of entities) {
      if (deps.signal?.aborted) {
        runStatus = 'cancelled';
        break;
      }
      await lock.ensureHeld(); // throws if Postgres restarted and another sync took the lock meanwhile
      const cp = await getCheckpoint(pool, entity);
      const entityMode: 'full' | 'incremental' = mode === 'full' || !cp || cp.status !== 'completed' ? 'full' : 'incremental';
      // Started with the run's first full pass (an incremental run seldom needs it).
      if (entityMode === 'full' && deps.bodyWorkers && !bodies) ctx.bodies = bodies = new BodyPool(deps.bodyWorkers);
      await history.startRunEntity(pool, runId, entity, null);
      const t0 = Date.now();
      try {
        const r = entityMode === 'full' ? await runFullPass(ctx, entity, pageSize) : await runIncremental(ctx, entity);
        const status = !r.completed ? 'cancelled' : r.skipped.length ? 'partial' : 'succeeded';
        await history.addCounters(pool, runId, entity, counter.take(entity));
        await history.finishRunEntity(pool, runId, entity, status === 'cancelled' ? 'failed' : status, status === 'cancelled' ? 'cancelled' : undefined);
        outcomes.push({ entity, mode: entityMode, status, pages: r.pages, records: r.records });
        progress.entityFinished(entity, { status, pages: r.pages, records: r.records });
        logger.info(`${entity}: ${r.pages} pages, ${r.records} records (${entityMode}) in ${Date.now() - t0} ms`, {
          entity, mode: entityMode, pages: r.pages, records: r.records, skipped_pages: r.skipped.length, duration_ms: Date.now() - t0,
        });
        if (status === 'cancelled') {
          runStatus = 'cancelled';
          break;
        }
        if (status === 'partial') runStatus = 'partial';
      } catch (err) {
        const msg = errorMessage(err);
        await history.addCounters(pool, runId, entity, counter.take(entity)).catch(() => undefined);
        await history.finishRunEntity(pool, runId, entity, 'failed', msg).catch(() => undefined);
        outcomes.push({ entity, mode: entityMode, status: 'failed', pages: 0, records: 0, error: msg });
        progress.entityFinished(entity, { status: 'failed', pages: 0, records: 0, error: msg });
        logger.error(`${entity} failed: ${msg}`, { entity });
        // Later entities depend on earlier ones; stop here and let the next run resume from the checkpoints.
        runStatus = deps.signal?.aborted ? 'cancelled' : 'failed';
        runError = `${entity}: ${msg}`;
        break;
      }
    }
    if (deps.recoverParents !== false && !deps.signal?.aborted && runStatus !== 'cancelled' && outcomes.some((o) => o.pages > 0)) {
      try {
        await follower?.settle();
        recovery = await recoverParents({
          db: deps.db, client, logger, runId, children: entities, counter, onLanded: deps.onLanded, signal: deps.signal,
          maxParents: typeof deps.recoverParents === 'number' ? deps.recoverParents : undefined,
        });
      } catch (err) {
        logger.warn(`parent recovery failed: ${errorMessage(err)}; the next run tries again`);
      }
    }
    await history.finishRun(pool, runId, runStatus, runError).catch((err) => logger.error(`could not record the run's end: ${errorMessage(err)}`));
  } catch (err) {
    runStatus = 'failed';
    runError = errorMessage(err);
    await history.finishRun(pool, runId, 'failed', runError).catch(() => undefined);
    throw err;
  } finally {
    if (bodies) {
      await bodies.close();
      logger.info(`${bodies.prepared} page bodies prepared on ${bodies.size} worker threads`, { bodies: bodies.prepared, body_workers: bodies.size });
    }
    await follower?.settle();
    await lock.release();
  }
  const durationMs = Date.now() - started;
  logger.info(`sync ${runStatus} in ${durationMs} ms`, { status: runStatus, duration_ms: durationMs, ...counter.totals });
  return { runId, status: runStatus, entities: outcomes, ...counter.totals, durationMs, error: runError, ...(recovery ? { recovery } : {}) };
}
