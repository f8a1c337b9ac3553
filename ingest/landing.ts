/**
 * Landing: one short transaction writes a page's event(s), any new body, the entity's checkpoint and
 * the run's counters together, so a crash leaves either all of them or none. Raw rows are only ever
 * inserted (the schema's triggers refuse anything else).
 */
import type pg from 'pg';
import type { EntityName } from './entities.js';
import { prepareBody } from './canonical.js';

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
}

export interface LandResult {
  fetchIds: number[];
  newBodies: number;
  /** Events not inserted because their page_key was already landed (a resumed pass re-fetching). */
  duplicates: number;
}

/** Inserts events (and their bodies when new) using the caller's transaction client. */
export async function insertEvents(client: pg.PoolClient | pg.Client, events: RawEvent[]): Promise<LandResult> {
  const result: LandResult = { fetchIds: [], newBodies: 0, duplicates: 0 };
  for (const e of events) {
    const body = prepareBody(e.body);
    const ins = await client.query(
      `INSERT INTO raw.page_bodies (sha256, body, bytes) VALUES ($1, $2::jsonb, $3) ON CONFLICT (sha256) DO NOTHING`,
      [body.sha256, body.json, body.bytes],
    );
    result.newBodies += ins.rowCount ?? 0;
    const f = await client.query<{ id: number }>(
      `INSERT INTO raw.fetches (run_id, entity, kind, endpoint, params, window_start, window_end, page_number, page_size,
                                http_status, record_count, body_sha256, extra_keys, fetched_at, duration_ms, attempts, page_key)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14, $15, $16, $17)
       ON CONFLICT (page_key) WHERE page_key IS NOT NULL DO NOTHING
       RETURNING id`,
      [
        e.runId, e.entity, e.kind, e.endpoint, JSON.stringify(e.params), e.windowStart ?? null, e.windowEnd ?? null,
        e.pageNumber ?? null, e.pageSize ?? null, e.httpStatus, e.recordCount, body.sha256,
        body.extraKeys ? JSON.stringify(body.extraKeys) : null, e.fetchedAt, Math.round(e.durationMs), e.attempts ?? 1, e.pageKey ?? null,
      ],
    );
    if (f.rows[0]) result.fetchIds.push(f.rows[0].id);
    else result.duplicates++;
  }
  return result;
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
}

/** Runs `fn` in a transaction; retries the whole transaction while the database is briefly unreachable. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>, opts: TxOptions = {}): Promise<T> {
  const deadline = Date.now() + (opts.retryForMs ?? 60_000);
  for (let attempt = 1; ; attempt++) {
    let client: pg.PoolClient | undefined;
    try {
      client = await pool.connect();
      await client.query('BEGIN');
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
