/**
 * pg-boss (10.x) on the same Postgres, in schema `pgboss`. Queue names and policies live here so the
 * API (which only enqueues), the worker and the CLI agree on them.
 *
 * Policies (pg-boss 10): `stately` keeps at most one job queued and one active per singleton key, which
 * is exactly the debounce we want for transforms (a burst of landed pages leaves one queued run per
 * target) and the "never twice at once" rule for syncs.
 */
import PgBoss from 'pg-boss';
import pg from 'pg';
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
  try {
    await createQueues(boss, url);
  } catch (err) {
    // A started pg-boss keeps timers and connections: stop it, or the process never exits after the error.
    await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
    throw err;
  }
  return boss;
}

const QUEUE_SETUP_LOCK = 0x71627173; // 'qbqs'

/**
 * Creates the queues that do not exist yet. pg-boss's createQueue (a partition table per queue) deadlocks
 * when several processes run it at once — workers started together on a fresh database — so creation is
 * serialised across processes by an advisory lock; the common case (every queue exists) takes no lock.
 */
async function createQueues(boss: PgBoss, url: string): Promise<void> {
  const missing = async () => {
    const out: Array<[string, PgBoss.QueuePolicy]> = [];
    for (const [name, policy] of Object.entries(POLICIES)) if (!(await boss.getQueue(name))) out.push([name, policy]);
    return out;
  };
  if (!(await missing()).length) return;
  const lock = new pg.Client({ connectionString: url, application_name: 'qbsync-queue-setup' });
  lock.on('error', () => undefined); // a lost connection releases the lock; the next query reports it
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [QUEUE_SETUP_LOCK]);
    for (const [name, policy] of await missing()) {
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
  } finally {
    await lock.end().catch(() => undefined); // ends the session: the lock goes with it
  }
}

/** pg-boss executor bound to a transaction's client, so a job is queued only if the transaction commits. */
export function txExecutor(client: pg.PoolClient | pg.Client): PgBoss.Db {
  return { executeSql: (text, values) => client.query(text, values) };
}

export type { PgBoss };
