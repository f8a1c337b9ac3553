/**
 * The QBench request budget (300 per 60 s per tenant) shared by every process through Postgres.
 * Each request takes a slot: one row with its time in qbsync.rate_budget_slots. Taking a slot is a short
 * transaction serialised by an advisory transaction lock: forget slots older than the window, count the
 * rest, and either insert ours or compute exactly how long until the oldest leaves the window.
 * Two workers on two machines therefore stay under the budget together.
 */
import type pg from 'pg';
import type { RateBudget } from './client/index.js';

const LOCK_KEY = 0x71627262; // 'qbrb'

export interface PgRateBudgetOptions {
  limit: number;
  windowMs: number;
  /** Budget name, so separate tenants (or tests) can share one database. */
  key?: string;
}

export class PgRateBudget implements RateBudget {
  readonly limit: number;
  readonly windowMs: number;
  private readonly key: string;
  /** Slots are held a little longer than the window: QBench counts a request when it arrives, we when we send. */
  private readonly holdMs: number;
  /** Local waiters queue here so this process serves them first come, first served. */
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly pool: pg.Pool, opts: PgRateBudgetOptions) {
    if (!(opts.limit >= 1)) throw new RangeError(`rate budget limit must be >= 1 (got ${opts.limit})`);
    if (!(opts.windowMs >= 1)) throw new RangeError(`rate budget window must be >= 1 ms (got ${opts.windowMs})`);
    this.limit = opts.limit;
    this.windowMs = opts.windowMs;
    this.key = opts.key ?? 'qbench';
    this.holdMs = opts.windowMs + Math.min(1000, Math.round(opts.windowMs * 0.05));
  }

  /** Tries to take a slot; returns 0 on success or the milliseconds to wait before trying again. */
  private async tryTake(): Promise<number> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_KEY, this.key]);
      const { rows } = await c.query<{ n: number; wait_ms: number | null }>(
        `WITH gone AS (
           DELETE FROM qbsync.rate_budget_slots WHERE budget = $1 AND taken_at <= clock_timestamp() - make_interval(secs => $2 / 1000.0)
         )
         SELECT count(*)::int AS n,
                ceil(extract(epoch FROM (min(taken_at) + make_interval(secs => $2 / 1000.0) - clock_timestamp())) * 1000)::int AS wait_ms
         FROM qbsync.rate_budget_slots WHERE budget = $1 AND taken_at > clock_timestamp() - make_interval(secs => $2 / 1000.0)`,
        [this.key, this.holdMs],
      );
      const { n, wait_ms } = rows[0];
      if (n < this.limit) {
        await c.query(`INSERT INTO qbsync.rate_budget_slots (budget, taken_at) VALUES ($1, clock_timestamp())`, [this.key]);
        await c.query('COMMIT');
        return 0;
      }
      await c.query('COMMIT');
      return Math.max(1, wait_ms ?? 1);
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  acquire(signal?: AbortSignal): Promise<void> {
    const turn = this.tail.then(() => this.take(signal));
    this.tail = turn.catch(() => undefined);
    return turn;
  }

  private async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      const wait = await this.tryTake();
      if (wait === 0) return;
      await sleep(wait, signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason ?? new Error('aborted'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
