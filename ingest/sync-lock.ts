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
  /**
   * Throws SyncLockLostError when the lock's connection was lost (Postgres restarted) and the lock could not
   * be taken again; resolves at once while it is held. A sync checks it between entities.
   */
  ensureHeld(): Promise<void>;
}

export class SyncLockLostError extends QbsyncError {
  constructor(detail: string) {
    super(`lost the sync lock: ${detail}; stopped (the next sync resumes from the checkpoints)`, 1);
  }
}

/** How long a lock whose connection died is tried again (Postgres restarting) before the sync gives up. */
const REACQUIRE_FOR_MS = 60_000;

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
  /** The connection holding the lock; undefined while it is being taken again (or after it was lost). */
  let held: pg.PoolClient | undefined = client;
  // The lock lives as long as its connection. If that connection dies (Postgres restarted), take the lock
  // again on a new connection as soon as the server answers; if another process took it meanwhile, or the
  // server stays away, the sync learns it at its next ensureHeld() and stops.
  let retaking: Promise<void> | undefined;
  let lost: string | undefined;
  const retake = (conn: pg.PoolClient, err: Error) => {
    if (released || lost !== undefined || conn !== held || retaking) return;
    held = undefined; // released to the pool (destroyed) here, never again
    unwatch(conn);
    conn.release(err);
    retaking = (async () => {
      const until = Date.now() + REACQUIRE_FOR_MS;
      for (;;) {
        if (released) return;
        let c: pg.PoolClient | undefined;
        try {
          c = await pool.connect();
          const { rows } = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [LOCK_A, LOCK_B]);
          if (!rows[0].ok) {
            c.release();
            lost = `its database connection was lost (${err.message}) and another sync holds it now${await describeHolder(pool).catch(() => '')}`;
            return;
          }
          watch(c);
          held = c;
          return;
        } catch (e) {
          c?.release(e as Error);
          if (Date.now() > until) {
            lost = `its database connection was lost (${err.message}) and the database did not come back within ${REACQUIRE_FOR_MS / 1000} s`;
            return;
          }
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    })().finally(() => (retaking = undefined));
  };
  // The listener is removed when the lock is released: pooled connections outlive many runs (a worker).
  const onError = new Map<pg.PoolClient, (err: Error) => void>();
  const watch = (c: pg.PoolClient) => {
    const fn = (err: Error) => retake(c, err);
    onError.set(c, fn);
    c.on('error', fn);
  };
  const unwatch = (c: pg.PoolClient) => {
    const fn = onError.get(c);
    if (fn) c.removeListener('error', fn);
    onError.delete(c);
  };
  watch(client);
  return {
    async ensureHeld() {
      if (retaking) await retaking;
      if (lost) throw new SyncLockLostError(lost);
    },
    async release() {
      if (released) return;
      released = true;
      if (retaking) await retaking.catch(() => undefined); // stops at its next try now that released is set
      const c = held;
      held = undefined;
      if (!c) return; // the lock went with its connection and was not taken again
      try {
        await c.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_A, LOCK_B]);
        unwatch(c); // pg-pool listens again once it has the connection back
        c.release();
      } catch (err) {
        unwatch(c);
        c.release(err as Error); // connection gone: the lock went with it
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
