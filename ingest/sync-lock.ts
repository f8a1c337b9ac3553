/**
 * One sync at a time per database: a session-level Postgres advisory lock held on a dedicated
 * connection for the whole run. It is released when the run ends or, if the process dies, when its
 * connection closes — so a killed sync never leaves a stale lock behind.
 */
import type pg from 'pg';
import { QbsyncError } from '../core/index.js';

// Fixed key: classid/objid pair unlikely to clash with anything else in the database.
const LOCK_A = 0x71627379; // 'qbsy'
const LOCK_B = 1;

export interface SyncLock {
  release(): Promise<void>;
}

export class SyncBusyError extends QbsyncError {
  constructor(detail: string) {
    super(`another sync is already running${detail}; wait for it to finish (or use --wait)`, 1);
  }
}

async function describeHolder(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query(
    `SELECT run_id, mode, started_at, host, pid FROM qbsync.sync_runs WHERE status = 'running' AND mode NOT IN ('replay', 'backfill') ORDER BY started_at DESC LIMIT 1`,
  );
  const r = rows[0];
  return r ? ` (run ${r.run_id}, ${r.mode}, started ${new Date(r.started_at).toISOString()} on ${r.host} pid ${r.pid})` : '';
}

export async function acquireSyncLock(pool: pg.Pool, opts: { wait?: boolean; waitTimeoutMs?: number; signal?: AbortSignal } = {}): Promise<SyncLock> {
  const client = await pool.connect();
  const deadline = Date.now() + (opts.waitTimeoutMs ?? 6 * 3600_000);
  try {
    for (;;) {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [LOCK_A, LOCK_B]);
      if (rows[0].ok) break;
      if (!opts.wait || Date.now() > deadline || opts.signal?.aborted) throw new SyncBusyError(await describeHolder(pool));
      await new Promise((r) => setTimeout(r, 1000));
    }
  } catch (err) {
    client.release();
    throw err;
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      try {
        await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_A, LOCK_B]);
        client.release();
      } catch (err) {
        client.release(err as Error); // connection gone: the lock went with it
      }
    },
  };
}

/** True while some process holds the sync lock (a sync is running somewhere on this database). */
export async function syncLockHeld(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ held: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::bigint::oid AND objid = $2::bigint::oid
                    AND objsubid = 2 AND granted) AS held`,
    [LOCK_A, LOCK_B],
  );
  return rows[0].held;
}
