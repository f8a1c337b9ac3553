/**
 * Enqueueing runs for the sync-control endpoints, through the jobs room (jobs/enqueue.ts), which owns the
 * job payloads the workers read: each call inserts the queued qbsync.sync_runs row and the pg-boss job in
 * one transaction and returns the run id. The interface lets tests substitute their own.
 */
import type { PgBoss } from '../core/boss.js';
import type { Database } from '../core/index.js';
import { enqueueSync, enqueueReplay, enqueueBackfill } from '../jobs/enqueue.js';
import type { EntityName } from '../ingest/index.js';

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

/** Entity names reach here validated against the API's schema enum. */
const asEntities = (e: string[] | undefined) => (e?.length ? (e as EntityName[]) : undefined);

export function defaultEnqueuer(db: Database, boss: PgBoss): Enqueuer {
  return {
    async sync(job) {
      return (await enqueueSync(db, boss, { mode: job.mode, entities: asEntities(job.entities), requestedBy: job.requestedBy })).runId;
    },
    async replay(job) {
      return (await enqueueReplay(db, boss, { entities: job.entities, requestedBy: job.requestedBy })).runId;
    },
    async backfill(job) {
      return (await enqueueBackfill(db, boss, { entities: asEntities(job.entities), from: job.from, to: job.to, requestedBy: job.requestedBy })).runId;
    },
  };
}
