/**
 * pg-boss (10.x) on the same Postgres, in schema `pgboss`. Queue names and policies live here so the
 * API (which only enqueues), the worker and the CLI agree on them.
 *
 * Policies (pg-boss 10): `stately` keeps at most one job queued and one active per singleton key, which
 * is exactly the debounce we want for transforms (a burst of landed pages leaves one queued run per
 * target) and the "never twice at once" rule for syncs.
 */
import PgBoss from 'pg-boss';
import type pg from 'pg';
import type { Logger } from './logger.js';
import { redactString } from './redact.js';

export const QUEUES = {
  sync: 'qbsync-sync',
  transform: 'qbsync-transform',
  backfill: 'qbsync-backfill',
  backfillChunk: 'qbsync-backfill-chunk',
  replay: 'qbsync-replay',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

const POLICIES: Record<QueueName, PgBoss.QueuePolicy> = {
  [QUEUES.sync]: 'stately',
  [QUEUES.transform]: 'stately',
  [QUEUES.backfill]: 'standard',
  [QUEUES.backfillChunk]: 'standard',
  [QUEUES.replay]: 'stately',
};

export async function startBoss(url: string, logger?: Logger, opts: { schedule?: boolean; supervise?: boolean } = {}): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: url,
    schema: 'pgboss',
    application_name: 'qbsync-jobs',
    max: 4,
    schedule: opts.schedule ?? false,
    supervise: opts.supervise ?? true,
  });
  boss.on('error', (err: Error) => logger?.warn('job queue error', { error: redactString(err.message) }));
  await boss.start();
  for (const [name, policy] of Object.entries(POLICIES)) {
    const existing = await boss.getQueue(name);
    if (!existing) {
      await boss.createQueue(name, {
        name,
        policy,
        // Syncs and backfill chunks retry on their own (checkpoints make a retry resume, not redo).
        retryLimit: name === QUEUES.transform ? 3 : 2,
        retryDelay: 5,
        retryBackoff: true,
        expireInHours: 12,
      });
    }
  }
  return boss;
}

/** pg-boss executor bound to a transaction's client, so a job is queued only if the transaction commits. */
export function txExecutor(client: pg.PoolClient | pg.Client): PgBoss.Db {
  return { executeSql: (text, values) => client.query(text, values) };
}

export type { PgBoss };
