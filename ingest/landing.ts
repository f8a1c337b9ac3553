/**
 * Landing: one short transaction writes a page's event(s), any new body, the entity's checkpoint and
 * the run's counters together, so a crash leaves either all of them or none. Raw rows are only ever
 * inserted (the schema's triggers refuse anything else).
 */
import type pg from 'pg';
import type { EntityName } from './entities.js';
import { prepareBody, type PreparedBody } from './canonical.js';
import { SqlParams } from './sql.js';

export type FetchKind = 'list' | 'detail' | 'updates';

export interface RawEvent {
  runId: string;
  entity: EntityName;
  kind: FetchKind;
  endpoint: string;
  /** Query parameters as sent (QBench query strings carry no secrets). */
  params: Record<string, unknown>;
  windowStart?: Date | null;
  windowEnd?: Date | null;
  pageNumber?: number | null;
  pageSize?: number | null;
  httpStatus: number;
  recordCount: number;
  body: unknown;
  fetchedAt: Date;
  durationMs: number;
  attempts?: number;
  /** Identity of a page within a resumable pass; a second landing of the same key is ignored. */
  pageKey?: string | null;
  /** Set when the body was already stored by storeBodies(): the event then only references it. */
  stored?: PreparedBody;
}

export interface LandResult {
  fetchIds: number[];
  newBodies: number;
  /** Events not inserted because their page_key was already landed (a resumed pass re-fetching). */
  duplicates: number;
}

/**
 * The two data-modifying CTE bodies that insert `events` and their bodies not stored yet, for a statement that may
 * carry more (full-pass.ts lands a page's events, checkpoint and counters in one). `guard` (SQL, e.g. "EXISTS (SELECT
 * 1 FROM cp)") makes both inserts conditional. The bodies CTE returns 1 per new body, the events CTE the new ids.
 * (The events' foreign key to their bodies is checked at the end of the statement, after both inserts.)
 */
export function eventsCte(p: SqlParams, events: RawEvent[], guard = 'true'): { bodies: string; fetches: string } {
  const bodies = events.map((e) => e.stored ?? prepareBody(e.body));
  const fresh = bodies.filter((_, i) => !events[i].stored);
  const col = <T>(f: (e: RawEvent, i: number) => T, cast: string) => p.add(events.map(f), cast);
  return {
    bodies: `INSERT INTO raw.page_bodies (sha256, body, bytes)
       SELECT DISTINCT ON (h) h, j, n
       FROM unnest(${p.add(fresh.map((b) => b.sha256), 'text[]')}, ${p.add(fresh.map((b) => b.json), 'jsonb[]')}, ${p.add(fresh.map((b) => b.bytes), 'int[]')}) AS t(h, j, n)
       WHERE ${guard}
       ON CONFLICT (sha256) DO NOTHING
       RETURNING 1`,
    fetches: `INSERT INTO raw.fetches (run_id, entity, kind, endpoint, params, window_start, window_end, page_number, page_size,
                                http_status, record_count, body_sha256, extra_keys, fetched_at, duration_ms, attempts, page_key)
       SELECT * FROM unnest(${col((e) => e.runId, 'uuid[]')}, ${col((e) => e.entity, 'text[]')}, ${col((e) => e.kind, 'text[]')},
                            ${col((e) => e.endpoint, 'text[]')}, ${col((e) => JSON.stringify(e.params), 'jsonb[]')},
                            ${col((e) => e.windowStart ?? null, 'timestamptz[]')}, ${col((e) => e.windowEnd ?? null, 'timestamptz[]')},
                            ${col((e) => e.pageNumber ?? null, 'int[]')}, ${col((e) => e.pageSize ?? null, 'int[]')},
                            ${col((e) => e.httpStatus, 'smallint[]')}, ${col((e) => e.recordCount, 'int[]')},
                            ${p.add(bodies.map((b) => b.sha256), 'text[]')}, ${p.add(bodies.map((b) => (b.extraKeys ? JSON.stringify(b.extraKeys) : null)), 'jsonb[]')},
                            ${col((e) => e.fetchedAt, 'timestamptz[]')}, ${col((e) => Math.round(e.durationMs), 'int[]')},
                            ${col((e) => e.attempts ?? 1, 'smallint[]')}, ${col((e) => e.pageKey ?? null, 'text[]')})
       WHERE ${guard}
       ON CONFLICT (page_key) WHERE page_key IS NOT NULL DO NOTHING
       RETURNING id`,
  };
}

/**
 * Inserts events (and their bodies when new) with the caller's transaction client, in ONE statement:
 * bodies and events go in as arrays (unnest), so a page with its details costs one round trip.
 */
export async function insertEvents(client: pg.PoolClient | pg.Client, events: RawEvent[]): Promise<LandResult> {
  if (events.length === 0) return { fetchIds: [], newBodies: 0, duplicates: 0 };
  const p = new SqlParams();
  const cte = eventsCte(p, events);
  const { rows } = await client.query<{ new_bodies: number; ids: number[] }>(
    `WITH b AS (${cte.bodies}), f AS (${cte.fetches})
     SELECT (SELECT count(*) FROM b)::int AS new_bodies, coalesce((SELECT array_agg(id ORDER BY id) FROM f), '{}') AS ids`,
    p.values,
  );
  const ids = rows[0].ids.map(Number);
  return { fetchIds: ids, newBodies: rows[0].new_bodies, duplicates: events.length - ids.length };
}

/**
 * Stores bodies ahead of their events, outside the page's transaction. This is the expensive part of
 * landing (Postgres parses every body into jsonb), so the full pass does it for prefetched pages in
 * parallel while pages are landed in order. Safe because bodies are content-addressed and immutable: a
 * body stored for a page whose event never lands (a crash in between) is simply referenced by the
 * event when the resumed pass lands that page again.
 *
 * One statement, its own transaction, committed asynchronously like the landings. The landing that references
 * these bodies commits after them, so its commit record follows theirs in the WAL: a crash cannot keep the
 * landing and lose a body. It can lose a body whose landing has not committed yet; that landing then fails on
 * its foreign key (isMissingBody) and its caller stores the bodies again (full-pass.ts).
 * Each body is its own parameter (no array literal to build and parse); retried while the database is briefly
 * unreachable.
 */
export async function storeBodies(pool: pg.Pool, events: RawEvent[], opts: Pick<TxOptions, 'onRetry'> = {}): Promise<{ events: RawEvent[]; newBodies: number }> {
  const prepared = events.map((e) => e.stored ?? prepareBody(e.body));
  if (prepared.length === 0) return { events, newBodies: 0 };
  const unique = [...new Map(prepared.map((b) => [b.sha256, b])).values()];
  const p = new SqlParams();
  const rows = unique.map((b) => `(${p.add(b.sha256)}, ${p.add(b.json, 'jsonb')}, ${p.add(b.bytes, 'int')})`).join(', ');
  const rowCount = await withDbRetry(
    async () =>
      (
        await pool.query(
          `WITH async AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true) AS v)
           INSERT INTO raw.page_bodies (sha256, body, bytes)
           SELECT v.* FROM (VALUES ${rows}) AS v(h, j, n), async
           ON CONFLICT (sha256) DO NOTHING`,
          p.values,
        )
      ).rowCount,
    opts,
  );
  return { events: events.map((e, i) => ({ ...e, stored: prepared[i] })), newBodies: rowCount ?? 0 };
}

/** True for a landing refused because a body it references is not in raw.page_bodies (lost in a crash). */
export function isMissingBody(err: unknown): boolean {
  const e = err as { code?: string; constraint?: string; table?: string };
  return e?.code === '23503' && (e.table === 'fetches' || /body_sha256/.test(e.constraint ?? ''));
}

const TRANSIENT_PG = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004', '53300']);

/** True for errors that mean "the database went away for a moment", worth retrying. */
export function isTransientDbError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (e?.code && TRANSIENT_PG.has(e.code)) return true;
  if (e?.code && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(e.code)) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error|terminating connection/i.test(e?.message ?? '');
}

export interface TxOptions {
  /** How long to keep retrying while the database is unreachable before giving up. */
  retryForMs?: number;
  onRetry?: (err: unknown, attempt: number) => void;
  /**
   * Commit without waiting for the WAL flush. Safe for landing: a page, its checkpoint and its queued
   * transform commit together, so a crash can only lose the last few pages *with* their checkpoint,
   * and the next run fetches them again — never a page without its checkpoint or the reverse.
   */
  asyncCommit?: boolean;
}

/**
 * Runs `fn` (one statement in autocommit, i.e. its own transaction) again while the database is briefly
 * unreachable. Only for statements that are safe to repeat: a landing statement repeated after its commit was
 * lost on the way back finds its checkpoint moved (see full-pass.ts), as a repeated transaction would.
 */
export async function withDbRetry<T>(fn: () => Promise<T>, opts: Pick<TxOptions, 'retryForMs' | 'onRetry'> = {}): Promise<T> {
  const deadline = Date.now() + (opts.retryForMs ?? 60_000);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransientDbError(err) || Date.now() > deadline) throw err;
      opts.onRetry?.(err, attempt);
      await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(attempt, 5))));
    }
  }
}

/** Runs `fn` in a transaction; retries the whole transaction while the database is briefly unreachable. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>, opts: TxOptions = {}): Promise<T> {
  const deadline = Date.now() + (opts.retryForMs ?? 60_000);
  for (let attempt = 1; ; attempt++) {
    let client: pg.PoolClient | undefined;
    try {
      client = await pool.connect();
      // One round trip: BEGIN and the commit mode travel together (simple query protocol).
      await client.query(opts.asyncCommit ? 'BEGIN; SET LOCAL synchronous_commit = off' : 'BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      client.release();
      return out;
    } catch (err) {
      if (client) {
        await client.query('ROLLBACK').catch(() => undefined);
        // A broken connection must not go back to the pool.
        client.release(isTransientDbError(err) ? (err as Error) : undefined);
      }
      if (!isTransientDbError(err) || Date.now() > deadline) throw err;
      opts.onRetry?.(err, attempt);
      await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(attempt, 5))));
    }
  }
}
