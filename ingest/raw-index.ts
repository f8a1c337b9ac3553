/**
 * The per-record index of raw (qbsync.raw_records, qbsync.raw_record_events), kept off the landing path: landing
 * only inserts events; the index catches up when something reads it (backfill classification and volumetry,
 * parent recovery, the transform job, `qbsync raw index`). See migrations/20261127120000_raw_index.ts for the rules.
 *
 * indexRaw() brings it up to every event committed before the call:
 *   1. fast path: nothing above the high-water mark → one cheap query, no lock;
 *   2. barrier, in a short transaction of its own: LOCK raw.fetches IN SHARE MODE waits for the landings in flight
 *      (new ones wait behind it for that moment only) and reads max(id). Every id up to it is now final: a landing
 *      still to come draws a higher id from the sequence. Without it, a landing that drew a lower id but committed
 *      after a higher one would be passed by the mark and never indexed;
 *   3. qbsync.index_raw(upto) in its own transaction (an advisory lock serialises concurrent callers; the second
 *      finds the work done). Landings go on meanwhile.
 * Never call it while this process holds an open landing transaction: the barrier would wait for it.
 */
import type pg from 'pg';
import type { Logger } from '../core/index.js';

export interface IndexResult {
  /** Events indexed by this call (0 when the index was current). */
  events: number;
  /** The high-water mark after the call. */
  mark: number;
  durationMs: number;
}

export async function indexRaw(pool: pg.Pool, logger?: Logger): Promise<IndexResult> {
  const t0 = Date.now();
  const { rows: [s] } = await pool.query<{ mark: number; top: number }>(
    `SELECT coalesce((SELECT last_fetch_id FROM qbsync.raw_index_state), 0) AS mark, coalesce((SELECT max(id) FROM raw.fetches), 0) AS top`,
  );
  if (s.top <= s.mark) return { events: 0, mark: Number(s.mark), durationMs: Date.now() - t0 };
  const c = await pool.connect();
  let upto: number;
  let events: number;
  try {
    try {
      // Simple query protocol: the four statements travel in one round trip.
      const r = (await c.query('BEGIN; LOCK TABLE raw.fetches IN SHARE MODE; SELECT coalesce(max(id), 0) AS upto FROM raw.fetches; COMMIT')) as unknown as pg.QueryResult[];
      upto = Number(r[2].rows[0].upto);
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    const { rows: [x] } = await c.query<{ n: number }>('SELECT qbsync.index_raw($1) AS n', [upto]);
    events = Number(x.n);
  } finally {
    c.release();
  }
  const durationMs = Date.now() - t0;
  if (events) logger?.debug(`raw index: ${events} events indexed in ${durationMs} ms`, { events, mark: upto, duration_ms: durationMs });
  return { events, mark: upto, durationMs };
}

/** Empties and rebuilds the index from raw in one transaction (landings wait while it runs). */
export async function rebuildRawIndex(pool: pg.Pool, logger?: Logger): Promise<IndexResult> {
  const t0 = Date.now();
  const { rows: [x] } = await pool.query<{ n: number }>('SELECT qbsync.rebuild_raw_index() AS n');
  const { rows: [s] } = await pool.query<{ mark: number }>(`SELECT coalesce((SELECT last_fetch_id FROM qbsync.raw_index_state), 0) AS mark`);
  const durationMs = Date.now() - t0;
  logger?.info(`raw index rebuilt: ${x.n} events in ${durationMs} ms`, { events: Number(x.n), duration_ms: durationMs });
  return { events: Number(x.n), mark: Number(s.mark), durationMs };
}

/** How far the index lags behind raw (for status output and tests). */
export async function rawIndexLag(pool: pg.Pool): Promise<{ mark: number; top: number; behind: number; indexedAt: Date | null }> {
  const { rows: [s] } = await pool.query<{ mark: number; top: number; behind: number; indexed_at: Date | null }>(
    `SELECT st.mark, coalesce((SELECT max(id) FROM raw.fetches), 0) AS top,
            (SELECT count(*) FROM raw.fetches WHERE id > st.mark)::bigint AS behind, st.indexed_at
     FROM (SELECT coalesce((SELECT last_fetch_id FROM qbsync.raw_index_state), 0) AS mark,
                  (SELECT indexed_at FROM qbsync.raw_index_state) AS indexed_at) st`,
  );
  return { mark: Number(s.mark), top: Number(s.top), behind: Number(s.behind), indexedAt: s.indexed_at };
}

/**
 * Keeps the index a little behind a long stream of landings (a sync without a worker), in the background: after
 * every `every` pages landed, indexRaw runs unless a run is still going. Landings are never waited on, except for
 * the moment of each barrier; settle() waits for the run in progress (before reading the index, and before the
 * caller returns).
 */
export class IndexFollower {
  private running: Promise<void> | null = null;
  private landed = 0;

  constructor(private readonly pool: pg.Pool, private readonly logger?: Logger, private readonly every = 100) {}

  pageLanded(): void {
    if (++this.landed % this.every === 0 && !this.running) {
      this.running = indexRaw(this.pool, this.logger).then(
        () => undefined,
        (err) => {
          this.logger?.warn(`indexing raw in the background failed: ${(err as Error).message}; its readers catch up themselves`);
        },
      ).finally(() => {
        this.running = null;
      });
    }
  }

  async settle(): Promise<void> {
    await this.running;
  }
}
