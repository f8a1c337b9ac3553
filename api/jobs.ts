/**
 * Enqueueing runs for the sync-control endpoints. The jobs room (jobs/enqueue.ts) owns the job payloads the
 * workers read: `enqueueSync(db, boss, {mode, entities, requestedBy}) → runId` and its backfill/replay
 * siblings, each inserting the queued qbsync.sync_runs row and the pg-boss job in one transaction. It is
 * loaded at run time when present; until then a built-in enqueuer with the same contract is used.
 */
import crypto from 'node:crypto';
import { QUEUES, txExecutor, type PgBoss } from '../core/boss.js';
import type { Database } from '../core/index.js';

export interface SyncJob {
  mode: 'full' | 'incremental';
  entities: string[];
  requestedBy: string;
}
export interface ReplayJob {
  entities?: string[];
  requestedBy: string;
}
export interface BackfillJob {
  entities: string[];
  from: string;
  to: string;
  requestedBy: string;
}

export interface Enqueuer {
  sync(job: SyncJob): Promise<string>;
  replay(job: ReplayJob): Promise<string>;
  backfill(job: BackfillJob): Promise<string>;
}

type Fn = (db: Database, boss: PgBoss, opts: Record<string, unknown>) => Promise<string | { runId: string }>;

async function loadJobsModule(): Promise<Record<string, Fn> | undefined> {
  const candidates = ['../jobs/enqueue.js', '../jobs/index.js'];
  for (const spec of candidates) {
    try {
      return (await import(spec)) as Record<string, Fn>;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw err;
    }
  }
  return undefined;
}

const runIdOf = (r: string | { runId: string }): string => (typeof r === 'string' ? r : r.runId);

/** Built-in: the queued run row and the job, in one transaction (the job exists only if the row does). */
async function enqueueBuiltIn(db: Database, boss: PgBoss, queue: string, mode: string, entities: string[], requestedBy: string, options: Record<string, unknown>): Promise<string> {
  const runId = crypto.randomUUID();
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO qbsync.sync_runs (run_id, mode, entities, status, requested_by, options) VALUES ($1, $2, $3, 'queued', $4, $5::jsonb)`,
      [runId, mode, entities, requestedBy, JSON.stringify(options)],
    );
    await boss.send(queue, { runId, mode, entities, requestedBy, ...options }, { db: txExecutor(client) } as never);
    await client.query('COMMIT');
    return runId;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export function defaultEnqueuer(db: Database, boss: PgBoss): Enqueuer {
  let mod: Promise<Record<string, Fn> | undefined> | undefined;
  const jobs = () => (mod ??= loadJobsModule());
  return {
    async sync(job) {
      const m = await jobs();
      if (m?.enqueueSync) return runIdOf(await m.enqueueSync(db, boss, { ...job }));
      return enqueueBuiltIn(db, boss, QUEUES.sync, job.mode, job.entities, job.requestedBy, {});
    },
    async replay(job) {
      const m = await jobs();
      if (m?.enqueueReplay) return runIdOf(await m.enqueueReplay(db, boss, { ...job }));
      return enqueueBuiltIn(db, boss, QUEUES.replay, 'replay', job.entities ?? [], job.requestedBy, {});
    },
    async backfill(job) {
      const m = await jobs();
      if (m?.enqueueBackfill) return runIdOf(await m.enqueueBackfill(db, boss, { ...job }));
      return enqueueBuiltIn(db, boss, QUEUES.backfill, 'backfill', job.entities, job.requestedBy, { from: job.from, to: job.to });
    },
  };
}
