/**
 * Landing: one short transaction writes a page's event(s), any new body, the entity's checkpoint and
 * the run's counters together, so a crash leaves either all of them or none. Raw rows are only ever
 * inserted (the schema's triggers refuse anything else).
 */
import type pg from 'pg';
import type { EntityName } from './entities.js';
import { prepareBody, type PreparedBody } from './canonical.js';

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
 * Inserts events (and their bodies when new) with the caller's transaction client, in ONE statement:
 * bodies and events go in as arrays (unnest), so a page with its details costs one round trip.
 * (The events' foreign key to their bodies is checked at the end of the statement, after both inserts.)
 */
export async function insertEvents(client: pg.PoolClient | pg.Client, events: RawEvent[]): Promise<LandResult> {
  if (events.length === 0) return { fetchIds: [], newBodies: 0, duplicates: 0 };
  const bodies = events.map((e) => e.stored ?? prepareBody(e.body));
  const fresh = bodies.filter((_, i) => !events[i].stored);
  const col = <T>(f: (e: RawEvent, i: number) => T) => events.map(f);
  const { rows } = await client.query<{ new_bodies: number; ids: number[] }>(
    `WITH b AS (
       INSERT INTO raw.page_bodies (sha256, body, bytes)
       SELECT DISTINCT ON (h) h, j, n FROM unnest($1::text[], $2::jsonb[], $3::int[]) AS t(h, j, n)
       ON CONFLICT (sha256) DO NOTHING
       RETURNING 1
     ), f AS (
       INSERT INTO raw.fetches (run_id, entity, kind, endpoint, params, window_start, window_end, page_number, page_size,
                                http_status, record_count, body_sha256, extra_keys, fetched_at, duration_ms, attempts, page_key)
       SELECT * FROM unnest($4::uuid[], $5::text[], $6::text[], $7::text[], $8::jsonb[], $9::timestamptz[], $10::timestamptz[],
                            $11::int[], $12::int[], $13::smallint[], $14::int[], $15::text[], $16::jsonb[], $17::timestamptz[],
                            $18::int[], $19::smallint[], $20::text[])
       ON CONFLICT (page_key) WHERE page_key IS NOT NULL DO NOTHING
       RETURNING id
     )
     SELECT (SELECT count(*) FROM b)::int AS new_bodies, coalesce((SELECT array_agg(id ORDER BY id) FROM f), '{}') AS ids`,
    [
      fresh.map((b) => b.sha256), fresh.map((b) => b.json), fresh.map((b) => b.bytes),
      col((e) => e.runId), col((e) => e.entity), col((e) => e.kind), col((e) => e.endpoint), col((e) => JSON.stringify(e.params)),
      col((e) => e.windowStart ?? null), col((e) => e.windowEnd ?? null), col((e) => e.pageNumber ?? null), col((e) => e.pageSize ?? null),
      col((e) => e.httpStatus), col((e) => e.recordCount), bodies.map((b) => b.sha256),
      bodies.map((b) => (b.extraKeys ? JSON.stringify(b.extraKeys) : null)), col((e) => e.fetchedAt), col((e) => Math.round(e.durationMs)),
      col((e) => e.attempts ?? 1), col((e) => e.pageKey ?? null),
    ],
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
 */
export async function storeBodies(pool: pg.Pool, events: RawEvent[], opts: Pick<TxOptions, 'onRetry'> = {}): Promise<{ events: RawEvent[]; newBodies: number }> {
  const prepared = events.map((e) => e.stored ?? prepareBody(e.body));
  if (prepared.length === 0) return { events, newBodies: 0 };
  // Durable commit whatever the server's synchronous_commit: the landing that will reference these bodies
  // commits asynchronously, and a body lost in a crash (acknowledged, not yet in the WAL) would make that
  // landing fail on the foreign key. Retried, like a landing, while the database is briefly unreachable.
  const rowCount = await inTransaction(
    pool,
    async (c) =>
      (
        await c.query(
          `INSERT INTO raw.page_bodies (sha256, body, bytes)
           SELECT DISTINCT ON (h) h, j, n FROM unnest($1::text[], $2::jsonb[], $3::int[]) AS t(h, j, n)
           ON CONFLICT (sha256) DO NOTHING`,
          [prepared.map((b) => b.sha256), prepared.map((b) => b.json), prepared.map((b) => b.bytes)],
        )
      ).rowCount,
    { durableCommit: true, onRetry: opts.onRetry },
  );
  return { events: events.map((e, i) => ({ ...e, stored: prepared[i] })), newBodies: rowCount ?? 0 };
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
  /** Commit with synchronous_commit = on even when the server's default is off. */
  durableCommit?: boolean;
}

/** Runs `fn` in a transaction; retries the whole transaction while the database is briefly unreachable. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>, opts: TxOptions = {}): Promise<T> {
  const deadline = Date.now() + (opts.retryForMs ?? 60_000);
  for (let attempt = 1; ; attempt++) {
    let client: pg.PoolClient | undefined;
    try {
      client = await pool.connect();
      // One round trip: BEGIN and the commit mode travel together (simple query protocol).
      await client.query(opts.asyncCommit ? 'BEGIN; SET LOCAL synchronous_commit = off' : opts.durableCommit ? 'BEGIN; SET LOCAL synchronous_commit = on' : 'BEGIN');
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
