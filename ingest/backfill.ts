/**
 * Backfill by date range: fetch every record created in [from, to) again, in resumable chunks, without
 * touching the rest (and without the sync lock: raw is append-only and the transforms keep the newest
 * version, so a backfill may run beside a sync; both share the QBench rate budget).
 *
 * A backfill is (entity set, range); it is split into chunks entity × [chunk_start, chunk_end) of
 * `chunk_days` days. Each chunk is worked once: a session advisory lock on the chunk while it runs (released
 * by the server if the process dies, so a killed chunk is free to be taken again at once), its `next_page`
 * moving in the same transaction that lands the page. Re-running the same backfill skips done chunks and
 * resumes the others where they stopped.
 *
 * Finding a chunk in a v1 list (which has no date filter, qbench-api.md §3, §8.6): the list is read sorted
 * `sort_by=date_created&sort_order=asc`; a binary search over page numbers finds the first page whose last
 * record is created at or after the chunk start (page 1 first, for total_pages: 1 + ⌈log2 pages⌉ requests),
 * then pages forward until a record created at or after the chunk end appears. Probe pages are navigation: the
 * page the search ends on is landed from the probe's answer (no second request), other probes are not
 * landed. Pages landed carry `window_start/window_end` = the chunk and `page_key`
 * `bf:<backfill>/<entity>/<chunk start>/p<n>` (unique: a resumed chunk never lands a page twice).
 *
 * Records deleted in QBench while a chunk pages forward shift later records to lower pages; when a page's
 * total_count is lower than the previous page's, the pages that may have lost records to the shift are read
 * again (page key suffix `.a<attempt>r<n>`).
 *
 * Customers: `date_created` may be null (legacy accounts, qbench-api.md §4). Such records belong to no date
 * window; a backfill that includes customers gets one extra "undated" chunk which fetches exactly them. Nulls
 * sort together at one end of the date_created order; which end is read from page 1 (a null first record
 * means nulls first, as in the simulator; otherwise they are looked for from the last page backwards). The
 * binary search treats a null date as before every date when nulls come first, after every date otherwise.
 *
 * Per chunk we record pages, rows (records inside the chunk's window), inserted / updated / unchanged
 * (compared with the newest version raw held when the chunk started — qbsync.raw_records, brought up to date
 * then and again when the chunk ends — by QBench's last_updated, or the record's hash when there is none;
 * records this backfill landed first count as inserted), skipped (records in the window without a usable id,
 * and test pages QBench refused for good), test details fetched, requests, duration and status. At the end
 * the backfill checks volumetry per entity: records fetched vs records raw holds for the window vs typed rows
 * for the window.
 */
import os from 'node:os';
import type pg from 'pg';
import { errorMessage, newRunId, QbsyncError, type Logger } from '../core/index.js';
import type { Database } from '../core/database.js';
import { ENTITY_NAMES, entityInfo, type EntityName } from './entities.js';
import { needsTestDetail, type DetailResult, type ListPage, type QBenchClient } from './client/index.js';
import { insertEvents, inTransaction, type RawEvent } from './landing.js';
import * as history from './run-history.js';
import { RequestCounter } from './request-counter.js';
import { recoverParents, PARENT_LINKS, type RecoveryResult } from './parents.js';
import { indexRaw } from './raw-index.js';
import type { PassContext } from './full-pass.js';

/** Entities a backfill covers when none are named: the ones the metrics count by date_created. */
export const DEFAULT_BACKFILL_ENTITIES: readonly EntityName[] = ['customers', 'orders', 'samples', 'batches', 'tests'];
export const DEFAULT_CHUNK_DAYS = 7;
/** A chunk that failed this many times is left failed (the backfill ends partial; re-run it to try again). */
export const MAX_CHUNK_FAILURES = 3;

const CHUNK_LOCK = 0x71626663; // 'qbfc' — pg_try_advisory_lock(CHUNK_LOCK, chunk_id)
const FINAL_LOCK = 0x71626666; // 'qbff' — pg_try_advisory_lock(FINAL_LOCK, hashtext(backfill_id))
const DAY_MS = 86_400_000;
/** When QBench refuses a test page for good, the same slice is asked again in pages this much smaller. */
const SPLIT_FACTOR = 5;

// ------------------------------------------------------------------------------------------------ dates

/**
 * A QBench date as epoch ms (UTC): "MM/DD/YYYY hh:mm AM/PM", "MM/DD/YYYY", unix seconds (string or number),
 * ISO 8601. Null when missing or unreadable.
 */
export function parseQBenchDate(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v * 1000 : null;
  if (typeof v !== 'string') return null;
  const s = v.trim();
  let m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?$/.exec(s);
  if (m) {
    const [, mo, d, y, hh, mi, ss, ap] = m;
    let h = hh ? Number(hh) : 0;
    if (ap) {
      if (h < 1 || h > 12) return null;
      h = (h % 12) + (ap.toUpperCase() === 'PM' ? 12 : 0);
    }
    const t = Date.UTC(Number(y), Number(mo) - 1, Number(d), h, mi ? Number(mi) : 0, ss ? Number(ss) : 0);
    const back = new Date(t);
    return back.getUTCMonth() === Number(mo) - 1 && back.getUTCDate() === Number(d) ? t : null;
  }
  if (/^\d{9,11}$/.test(s)) return Number(s) * 1000;
  m = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (m) {
    const t = Date.parse(m[4] || !m[1] ? s.replace(' ', 'T') : `${s.replace(' ', 'T')}Z`);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

const dateCreated = (item: unknown): number | null => parseQBenchDate((item as { date_created?: unknown })?.date_created);

function itemId(item: unknown): number | null {
  const v = (item as { id?: unknown })?.id;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isSafeInteger(n) ? n : null;
}

// ------------------------------------------------------------------------------------------------ plan

export interface BackfillRequest {
  from: Date;
  /** Exclusive. */
  to: Date;
  entities?: readonly EntityName[];
  chunkDays?: number;
  pageSize?: number;
  requestedBy?: string;
  /** Fetch the range again even though the same backfill already completed (supersedes it). */
  again?: boolean;
}

export interface BackfillRow {
  backfill_id: string;
  entities: EntityName[];
  range_from: Date;
  range_to: Date;
  chunk_days: number;
  page_size: number;
  status: 'running' | 'succeeded' | 'partial' | 'failed' | 'superseded';
  requested_by: string;
  created_at: Date;
  finished_at: Date | null;
  volumetry: Volumetry | null;
  error: string | null;
}

export interface ChunkRow {
  chunk_id: number;
  backfill_id: string;
  entity: EntityName;
  chunk_start: Date | null;
  chunk_end: Date | null;
  status: 'pending' | 'running' | 'done' | 'failed';
  attempts: number;
  failures: number;
  start_page: number | null;
  next_page: number | null;
  total_pages: number | null;
  pages: number;
  rows: number;
  inserted: number;
  updated: number;
  unchanged: number;
  skipped: number;
  details: number;
  requests: number;
  skipped_pages: Array<{ page: number; reason: string }>;
  duration_ms: number;
  started_at: Date | null;
  finished_at: Date | null;
  job_id: string | null;
  error: string | null;
}

export interface PlanResult {
  backfill: BackfillRow;
  /** Chunks not done yet (to enqueue or work). */
  open: ChunkRow[];
  all: ChunkRow[];
  created: boolean;
  /** Said to the user when an existing backfill was reused with different settings. */
  notes: string[];
}

/** [from, to) in chunks of `days` days (the last one shorter). */
export function splitRange(from: Date, to: Date, days: number): Array<{ start: Date; end: Date }> {
  if (!(to.getTime() > from.getTime())) throw new QbsyncError(`backfill range is empty: --from ${from.toISOString()} must be before --to ${to.toISOString()}`, 2);
  if (!Number.isInteger(days) || days < 1) throw new QbsyncError(`--chunk-days must be a whole number >= 1 (got ${days})`, 2);
  const out: Array<{ start: Date; end: Date }> = [];
  for (let t = from.getTime(); t < to.getTime(); t += days * DAY_MS) out.push({ start: new Date(t), end: new Date(Math.min(to.getTime(), t + days * DAY_MS)) });
  return out;
}

/** A chunk's name in page keys and output: its start (a date, or a full timestamp when not midnight), or "undated". */
export function chunkLabel(c: { chunk_start: Date | null }): string {
  if (!c.chunk_start) return 'undated';
  const iso = c.chunk_start.toISOString();
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
}

export function orderBackfillEntities(entities?: readonly EntityName[]): EntityName[] {
  const want = entities?.length ? entities : DEFAULT_BACKFILL_ENTITIES;
  return ENTITY_NAMES.filter((e) => want.includes(e));
}

/**
 * Finds or creates the backfill (same entity set and range = the same backfill) and its chunks, in one
 * transaction; `inTx` runs inside it (to enqueue the open chunks' jobs atomically with the plan).
 */
export async function planBackfill(
  db: Database,
  req: BackfillRequest,
  inTx?: (tx: pg.PoolClient, plan: PlanResult) => Promise<void>,
): Promise<PlanResult> {
  const entities = orderBackfillEntities(req.entities);
  const chunkDays = req.chunkDays ?? DEFAULT_CHUNK_DAYS;
  const windows = splitRange(req.from, req.to, chunkDays);
  const pageSize = req.pageSize ?? 50;
  return inTransaction(db.pool, async (c) => {
    await c.query(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, [FINAL_LOCK, `plan:${entities.join(',')}:${req.from.toISOString()}:${req.to.toISOString()}`]);
    const notes: string[] = [];
    let { rows: [bf] } = await c.query<BackfillRow>(
      `SELECT * FROM qbsync.backfills WHERE entities = $1 AND range_from = $2 AND range_to = $3 AND status <> 'superseded'`,
      [entities, req.from, req.to],
    );
    let created = false;
    if (bf && req.again && bf.status !== 'running') {
      await c.query(`UPDATE qbsync.backfills SET status = 'superseded' WHERE backfill_id = $1`, [bf.backfill_id]);
      notes.push(`backfill ${bf.backfill_id} (${bf.status}) superseded: fetching the range again`);
      bf = undefined as unknown as BackfillRow;
    }
    if (!bf) {
      const id = newRunId();
      ({ rows: [bf] } = await c.query<BackfillRow>(
        `INSERT INTO qbsync.backfills (backfill_id, entities, range_from, range_to, chunk_days, page_size, requested_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [id, entities, req.from, req.to, chunkDays, pageSize, req.requestedBy ?? 'cli'],
      ));
      await c.query(
        `INSERT INTO qbsync.backfill_chunks (backfill_id, entity, chunk_start, chunk_end)
         SELECT $1, e.entity, w.s, w.e FROM unnest($2::text[]) WITH ORDINALITY AS e(entity, n)
         CROSS JOIN unnest($3::timestamptz[], $4::timestamptz[]) AS w(s, e)
         ORDER BY e.n, w.s`,
        [id, entities, windows.map((w) => w.start), windows.map((w) => w.end)],
      );
      if (entities.includes('customers')) {
        await c.query(`INSERT INTO qbsync.backfill_chunks (backfill_id, entity, chunk_start, chunk_end) VALUES ($1, 'customers', NULL, NULL)`, [id]);
      }
      await history.createRun(c, {
        runId: id, mode: 'backfill', entities, requestedBy: req.requestedBy ?? 'cli',
        options: { from: req.from.toISOString(), to: req.to.toISOString(), chunkDays, pageSize },
      });
      for (const e of entities) await history.startRunEntity(c, id, e, null);
      created = true;
    } else {
      if (req.chunkDays !== undefined && req.chunkDays !== bf.chunk_days) {
        notes.push(`backfill ${bf.backfill_id} of this range already exists with --chunk-days ${bf.chunk_days}; keeping its chunks`);
      }
      if (bf.status === 'partial' || bf.status === 'failed') {
        // Try the failed chunks again.
        await c.query(`UPDATE qbsync.backfill_chunks SET status = 'pending', failures = 0, error = NULL WHERE backfill_id = $1 AND status = 'failed'`, [bf.backfill_id]);
        ({ rows: [bf] } = await c.query<BackfillRow>(
          `UPDATE qbsync.backfills SET status = 'running', finished_at = NULL, error = NULL WHERE backfill_id = $1 RETURNING *`, [bf.backfill_id],
        ));
        await c.query(`UPDATE qbsync.sync_runs SET status = 'running', finished_at = NULL, error = NULL WHERE run_id = $1`, [bf.backfill_id]);
      }
    }
    const { rows: all } = await c.query<ChunkRow>(
      `SELECT * FROM qbsync.backfill_chunks WHERE backfill_id = $1 ORDER BY array_position($2::text[], entity), chunk_start NULLS FIRST`,
      [bf.backfill_id, ENTITY_NAMES],
    );
    const plan: PlanResult = { backfill: bf, open: all.filter((ch) => ch.status === 'pending' || ch.status === 'running'), all, created, notes };
    await inTx?.(c, plan);
    return plan;
  });
}

export async function getBackfill(q: pg.Pool | pg.PoolClient, backfillId: string): Promise<{ backfill: BackfillRow; chunks: ChunkRow[] } | undefined> {
  const { rows: [backfill] } = await q.query<BackfillRow>(`SELECT * FROM qbsync.backfills WHERE backfill_id = $1`, [backfillId]);
  if (!backfill) return undefined;
  const { rows: chunks } = await q.query<ChunkRow>(
    `SELECT * FROM qbsync.backfill_chunks WHERE backfill_id = $1 ORDER BY array_position($2::text[], entity), chunk_start NULLS FIRST`,
    [backfillId, ENTITY_NAMES],
  );
  return { backfill, chunks };
}

export async function listBackfills(q: pg.Pool, limit = 10): Promise<BackfillRow[]> {
  const { rows } = await q.query<BackfillRow>(`SELECT * FROM qbsync.backfills ORDER BY created_at DESC LIMIT $1`, [limit]);
  return rows;
}

/** Chunk ids of the backfill still to do (pending, or running but not held by a live process). */
export async function claimableChunks(pool: pg.Pool, backfillId: string): Promise<number[]> {
  const { rows } = await pool.query<{ chunk_id: number }>(
    `SELECT c.chunk_id FROM qbsync.backfill_chunks c
     WHERE c.backfill_id = $1 AND c.status IN ('pending', 'running')
       AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.classid = $2::bigint::oid AND l.objid = c.chunk_id::oid
                                                 AND l.objsubid = 2 AND l.granted)
     ORDER BY c.chunk_id`,
    [backfillId, CHUNK_LOCK],
  );
  return rows.map((r) => r.chunk_id);
}

/** Chunks marked running whose process is gone (their advisory lock is free): for the worker's reaper. */
export async function orphanedChunks(pool: pg.Pool): Promise<Array<{ chunk_id: number; backfill_id: string }>> {
  const { rows } = await pool.query(
    `SELECT c.chunk_id, c.backfill_id FROM qbsync.backfill_chunks c JOIN qbsync.backfills b USING (backfill_id)
     WHERE b.status = 'running' AND c.status = 'running'
       AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.classid = $1::bigint::oid AND l.objid = c.chunk_id::oid
                                                 AND l.objsubid = 2 AND l.granted)`,
    [CHUNK_LOCK],
  );
  return rows;
}

/** Backfills whose chunks are all finished but which were never finalized (the finalizer died). */
export async function unfinalizedBackfills(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ backfill_id: string }>(
    `SELECT b.backfill_id FROM qbsync.backfills b
     WHERE b.status = 'running' AND NOT EXISTS (SELECT 1 FROM qbsync.backfill_chunks c WHERE c.backfill_id = b.backfill_id AND c.status IN ('pending', 'running'))`,
  );
  return rows.map((r) => r.backfill_id);
}

// ------------------------------------------------------------------------------------------------ chunks

export interface ChunkDeps {
  db: Database;
  /** Built per chunk so its request counter belongs to the chunk. */
  makeClient: (onEvent: RequestCounter['onEvent']) => QBenchClient;
  logger: Logger;
  signal?: AbortSignal;
  /** Called in every landing transaction (queue the entity's transform). */
  onLanded?: PassContext['onLanded'];
  /** Applies the transforms of these entities (at finalize, before volumetry); absent = skip. */
  transform?: (entities: EntityName[]) => Promise<void>;
  recoveryMaxParents?: number;
  /** Pool for the locks held while a chunk or a finalize runs (default db.pool). */
  lockPool?: pg.Pool;
  /** Checked between pages: true stops the chunk after the page in flight is landed (it resumes there). */
  stopRequested?: () => boolean;
}

export type ChunkState = 'done' | 'busy' | 'finished-before' | 'cancelled' | 'retry' | 'failed';

export interface ChunkOutcome {
  chunkId: number;
  state: ChunkState;
  backfillId?: string;
  entity?: EntityName;
  label?: string;
  pages?: number;
  rows?: number;
  error?: string;
  /** True when this chunk was the backfill's last open one (the caller should finalize). */
  lastOpen?: boolean;
}

interface Slice {
  /** The page (or the sub-pages that replaced a page QBench refused). */
  pages: ListPage[];
  items: unknown[];
  totalPages: number;
  totalCount: number | null;
  skippedReason: string | null;
}

class Aborted extends Error {}

/**
 * Works one chunk if it is free and not done; returns what happened. Safe to call for any chunk id any
 * number of times from any number of processes: only one works a chunk at a time, and a done chunk is
 * never worked again.
 */
export async function runChunk(deps: ChunkDeps, chunkId: number): Promise<ChunkOutcome> {
  const { db } = deps;
  const lockConn = await (deps.lockPool ?? db.pool).connect();
  let locked = false;
  try {
    const { rows: [l] } = await lockConn.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock($1, $2::int) AS ok`, [CHUNK_LOCK, chunkId]);
    locked = l.ok;
    if (!locked) return { chunkId, state: 'busy' };
    const { rows: [row] } = await db.pool.query<ChunkRow & { b_status: string; page_size: number; entities: EntityName[] }>(
      `SELECT c.*, b.status AS b_status, b.page_size, b.entities FROM qbsync.backfill_chunks c JOIN qbsync.backfills b USING (backfill_id) WHERE c.chunk_id = $1`,
      [chunkId],
    );
    if (!row) throw new QbsyncError(`backfill chunk ${chunkId} does not exist`);
    const base = { chunkId, backfillId: row.backfill_id, entity: row.entity, label: chunkLabel(row) };
    if (row.status === 'done' || row.status === 'failed' || row.b_status !== 'running') return { ...base, state: 'finished-before' };
    await db.pool.query(
      `UPDATE qbsync.backfill_chunks SET status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now()), host = $2, pid = $3
       WHERE chunk_id = $1`,
      [chunkId, os.hostname(), process.pid],
    );
    const logger = deps.logger.child({ run_id: row.backfill_id, entity: row.entity, chunk: base.label });
    const t0 = Date.now();
    const counter = new RequestCounter();
    const client = deps.makeClient(counter.onEvent);
    const worker = new ChunkWorker({ ...deps, logger }, row, row.page_size, client, counter);
    try {
      // What the chunk's pages are classified against (inserted / updated / unchanged): raw as it is now.
      await indexRaw(db.pool, logger);
      await worker.run();
    } catch (err) {
      const ms = Date.now() - t0;
      if (err instanceof Aborted || deps.signal?.aborted || deps.stopRequested?.()) {
        await db.pool.query(`UPDATE qbsync.backfill_chunks SET status = 'pending', duration_ms = duration_ms + $2 WHERE chunk_id = $1`, [chunkId, ms]);
        logger.info(`backfill chunk ${row.entity} ${base.label} interrupted after ${worker.pagesThisAttempt} pages; it resumes at the next page`);
        return { ...base, state: 'cancelled' };
      }
      const msg = errorMessage(err);
      const { rows: [u] } = await db.pool.query<{ status: string }>(
        `UPDATE qbsync.backfill_chunks SET failures = failures + 1, error = $2, duration_ms = duration_ms + $3,
                status = CASE WHEN failures + 1 >= $4 THEN 'failed' ELSE 'pending' END,
                finished_at = CASE WHEN failures + 1 >= $4 THEN now() END
         WHERE chunk_id = $1 RETURNING status`,
        [chunkId, msg, ms, MAX_CHUNK_FAILURES],
      );
      logger.error(`backfill chunk ${row.entity} ${base.label} failed: ${msg}${u.status === 'failed' ? ` (gave up after ${MAX_CHUNK_FAILURES} failures)` : '; it will be tried again'}`);
      if (u.status !== 'failed') return { ...base, state: 'retry', error: msg };
      return { ...base, state: 'failed', error: msg, lastOpen: await noOpenChunks(db.pool, row.backfill_id) };
    }
    const ms = Date.now() - t0;
    await db.pool.query(
      `UPDATE qbsync.backfill_chunks SET status = 'done', finished_at = now(), duration_ms = duration_ms + $2, error = NULL WHERE chunk_id = $1`,
      [chunkId, ms],
    );
    const { rows: [done] } = await db.pool.query<ChunkRow>(`SELECT * FROM qbsync.backfill_chunks WHERE chunk_id = $1`, [chunkId]);
    // The chunk's own pages, for the chunks after it and the volumetry (not needed for correctness: readers index first).
    await indexRaw(db.pool, logger).catch((err) => logger.warn(`indexing raw after the chunk failed: ${errorMessage(err)}`));
    logger.info(
      `backfill chunk ${row.entity} ${base.label}: ${done.pages} pages, ${done.rows} rows (${done.inserted} inserted, ${done.updated} updated, ` +
        `${done.unchanged} unchanged, ${done.skipped} skipped), ${done.requests} requests in ${(done.duration_ms / 1000).toFixed(1)} s`,
      { pages: done.pages, rows: done.rows, inserted: done.inserted, updated: done.updated, unchanged: done.unchanged, skipped: done.skipped, requests: done.requests, duration_ms: done.duration_ms },
    );
    // Parents this backfill will not land itself are recovered now; the rest at finalize.
    const children = PARENT_LINKS.filter(([child, parent]) => child === row.entity && !row.entities.includes(parent)).map(([child]) => child);
    if (children.length && worker.fetchIds.length) {
      await recoverParents({
        db, client, logger, runId: row.backfill_id, fetchIds: worker.fetchIds, children, maxParents: deps.recoveryMaxParents,
        onLanded: deps.onLanded, counter, signal: deps.signal,
      }).catch((err) => logger.warn(`parent recovery after the chunk failed: ${errorMessage(err)} (finalize tries again)`));
    }
    return { ...base, state: 'done', pages: done.pages, rows: done.rows, lastOpen: await noOpenChunks(db.pool, row.backfill_id) };
  } finally {
    if (locked) await lockConn.query(`SELECT pg_advisory_unlock($1, $2::int)`, [CHUNK_LOCK, chunkId]).catch(() => undefined);
    lockConn.release();
  }
}

async function noOpenChunks(pool: pg.Pool, backfillId: string): Promise<boolean> {
  const { rows } = await pool.query(`SELECT 1 FROM qbsync.backfill_chunks WHERE backfill_id = $1 AND status IN ('pending', 'running') LIMIT 1`, [backfillId]);
  return rows.length === 0;
}

/**
 * What this process learned about where records sit in a date_created-sorted list (first/last date per page),
 * shared by the chunks of an entity: the chunk after one that just finished starts on the page where that one
 * stopped, so consecutive chunks need no probes at all. Hints only narrow the search; the page a chunk starts
 * on is checked when it is fetched (its first record must be before the chunk start), so a stale hint costs a
 * request, never a missed record.
 */
interface PageBounds { first: number; last: number; at: number }
interface ListHints { nullsFirst: boolean; totalPages: number; pages: Map<number, PageBounds>; at: number }
const HINT_TTL_MS = 10 * 60_000;
const HINTS = new Map<string, ListHints>();

class ChunkWorker {
  readonly fetchIds: number[] = [];
  pagesThisAttempt = 0;
  private readonly cache = new Map<number, Slice>();
  private readonly counted = new Set<number>();
  private readonly entity: EntityName;
  private readonly start: number;
  private readonly end: number;
  private readonly label: string;
  private nullsFirst = true;
  private rewinds = 0;

  constructor(
    private readonly deps: ChunkDeps,
    private readonly chunk: ChunkRow,
    private readonly size: number,
    private readonly client: QBenchClient,
    private readonly counter: RequestCounter,
  ) {
    this.entity = chunk.entity;
    this.start = chunk.chunk_start ? chunk.chunk_start.getTime() : NaN;
    this.end = chunk.chunk_end ? chunk.chunk_end.getTime() : NaN;
    this.label = chunkLabel(chunk);
  }

  private get undated(): boolean {
    return this.chunk.chunk_start === null;
  }

  private check(): void {
    if (this.deps.signal?.aborted || this.deps.stopRequested?.()) throw new Aborted('aborted');
  }

  /** A date as a sort key: null sorts with the nulls (first or last). */
  private key(item: unknown): number {
    const d = dateCreated(item);
    if (d !== null) return d;
    return this.nullsFirst ? -Infinity : Infinity;
  }

  private inWindow(item: unknown): boolean {
    if (this.undated) return dateCreated(item) === null;
    const k = this.key(item);
    return k >= this.start && k < this.end;
  }

  /** One list page sorted by date_created asc; a test page QBench refuses is read as smaller sub-pages. */
  private async slice(pageNum: number): Promise<Slice> {
    this.check();
    const cached = this.cache.get(pageNum);
    if (cached) return cached;
    const opts = { pageSize: this.size, sortBy: 'date_created', sortOrder: 'asc' as const, signal: this.deps.signal };
    const page = await this.client.listPage(this.entity, { ...opts, pageNum });
    let out: Slice;
    if (!page.skipped) {
      out = { pages: [page], items: page.data, totalPages: page.totalPages, totalCount: page.totalCount, skippedReason: null };
    } else {
      let sub = Math.max(1, Math.floor(this.size / SPLIT_FACTOR));
      while (this.size % sub !== 0) sub--;
      const parts = this.size / sub;
      const first = (pageNum - 1) * parts + 1;
      out = { pages: [], items: [], totalPages: this.chunk.total_pages ?? pageNum, totalCount: null, skippedReason: null };
      for (let i = 0; i < parts; i++) {
        const p = await this.client.listPage(this.entity, { ...opts, pageNum: first + i, pageSize: sub });
        if (p.skipped) {
          out.skippedReason = `${page.reason}; recovery with page_size ${sub} failed on sub-page ${first + i}: ${p.reason}`;
          break;
        }
        out.pages.push(p);
        out.items = out.items.concat(p.data);
        out.totalPages = Math.ceil((p.totalCount ?? p.totalPages * sub) / this.size);
        out.totalCount = p.totalCount;
      }
    }
    this.cache.set(pageNum, out);
    this.remember(pageNum, out);
    return out;
  }

  private get hintKey(): string {
    return `${this.client.baseUrl}|${this.entity}|${this.size}`;
  }

  private hints(): ListHints | undefined {
    const h = HINTS.get(this.hintKey);
    return h && Date.now() - h.at < HINT_TTL_MS ? h : undefined;
  }

  private remember(pageNum: number, s: Slice): void {
    if (!s.items.length || s.skippedReason) return;
    const now = Date.now();
    let h = this.hints();
    if (!h) HINTS.set(this.hintKey, (h = { nullsFirst: this.nullsFirst, totalPages: s.totalPages, pages: new Map(), at: now }));
    if (pageNum === 1) h.nullsFirst = this.nullsFirst;
    h.totalPages = Math.max(h.totalPages, s.totalPages);
    h.at = now;
    h.pages.set(pageNum, { first: this.key(s.items[0]), last: this.lastKey(s), at: now });
  }

  private lastKey(s: Slice): number {
    return s.items.length ? this.key(s.items[s.items.length - 1]) : Infinity;
  }

  async run(): Promise<void> {
    if (this.undated) return this.runUndated();
    const { db } = this.deps;
    let next = this.chunk.next_page;
    const known = this.hints();
    let totalPages: number;
    if (known) {
      this.nullsFirst = known.nullsFirst;
      totalPages = known.totalPages;
    } else {
      const p1 = await this.slice(1);
      this.nullsFirst = p1.items.length > 0 && dateCreated(p1.items[0]) === null;
      this.remember(1, p1);
      totalPages = p1.totalPages;
    }
    const fresh = next === null;
    if (next === null) {
      next = await this.locate(totalPages, true);
      // The start page must begin before the chunk (else an earlier page may hold its first records): true
      // by construction after a search, checked here because hints can be stale (records deleted since).
      for (let steps = 0; next > 1; steps++) {
        const s = await this.slice(next);
        if (s.items.length && this.key(s.items[0]) < this.start) break;
        if (steps === 3) {
          next = await this.locate(next, false); // far off: search again without hints
          break;
        }
        next--;
      }
      this.chunk.start_page = next;
      await db.pool.query(`UPDATE qbsync.backfill_chunks SET start_page = $2, next_page = $2, total_pages = $3 WHERE chunk_id = $1`, [this.chunk.chunk_id, next, totalPages]);
      this.deps.logger.debug(`chunk starts at page ${next} of ${totalPages}`, { start_page: next, total_pages: totalPages });
    }
    let prevCount: number | null = null;
    for (let n = next; ; n++) {
      this.check();
      const s = await this.slice(n);
      if (prevCount !== null && s.totalCount !== null && s.totalCount < prevCount) {
        // Records were deleted while we paged: later records moved to lower pages; read those again.
        const back = Math.ceil((prevCount - s.totalCount) / this.size);
        this.rewinds++;
        for (let k = Math.max(this.chunk.start_page ?? 1, n - back); k < n; k++) {
          this.cache.delete(k);
          await this.landSlice(k, await this.slice(k), `.a${this.chunk.attempts + 1}r${this.rewinds}`, false);
        }
      }
      prevCount = s.totalCount;
      const last = s.items.length === 0 || n >= s.totalPages || this.lastKey(s) >= this.end;
      await this.landSlice(n, s, '', true);
      this.cache.delete(n);
      if (last) break;
    }
    if (fresh) this.cache.clear();
  }

  /**
   * The first page whose last record is created at or after the chunk start: binary search over page numbers,
   * narrowed first by what earlier chunks of this entity learned (often to a single page, without a probe).
   * When every record is before the chunk, the last page (which shows it, and ends the chunk).
   */
  private async locate(totalPages: number, useHints: boolean): Promise<number> {
    let lo = 1;
    let hi = Math.max(1, totalPages);
    const h = useHints ? this.hints() : undefined;
    if (h) {
      for (const [p, b] of h.pages) {
        if (b.last < this.start) lo = Math.max(lo, p + 1);
        else hi = Math.min(hi, p);
      }
      if (lo > hi) hi = lo; // stale hints (records deleted since): a page past them, checked when fetched
    }
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const s = await this.slice(mid);
      if (s.items.length === 0 || this.lastKey(s) >= this.start) hi = mid;
      else lo = mid + 1;
    }
    // Only the page we start on is kept: other probes were navigation.
    for (const k of [...this.cache.keys()]) if (k !== lo) this.cache.delete(k);
    return lo;
  }

  private async runUndated(): Promise<void> {
    const { db } = this.deps;
    const p1 = await this.slice(1);
    this.nullsFirst = p1.items.length > 0 && dateCreated(p1.items[0]) === null;
    // Small (a few pages at most): an interrupted undated chunk starts over; pages it landed are not landed twice.
    await db.pool.query(
      `UPDATE qbsync.backfill_chunks SET pages = 0, rows = 0, inserted = 0, updated = 0, unchanged = 0, skipped = 0, details = 0,
              start_page = $2, total_pages = $2 WHERE chunk_id = $1`,
      [this.chunk.chunk_id, p1.totalPages],
    );
    if (p1.items.length === 0) return;
    if (this.nullsFirst) {
      for (let n = 1; ; n++) {
        const s = await this.slice(n);
        if (!s.items.some((i) => dateCreated(i) === null)) break;
        await this.landSlice(n, s, '', true);
        if (n >= s.totalPages || dateCreated(s.items[s.items.length - 1]) !== null) break;
      }
    } else {
      for (let n = p1.totalPages; n >= 1; n--) {
        const s = await this.slice(n);
        if (!s.items.some((i) => dateCreated(i) === null)) break;
        await this.landSlice(n, s, '', true);
        if (dateCreated(s.items[0]) !== null) break;
      }
    }
  }

  /** Lands one slice (if it holds records of the window) with its test details, chunk progress and counters. */
  private async landSlice(pageNum: number, s: Slice, suffix: string, advance: boolean): Promise<void> {
    const { db, logger } = this.deps;
    const { entity, chunk } = this;
    const inWin = s.items.filter((i) => this.inWindow(i));
    const fresh = inWin.filter((i) => {
      const id = itemId(i);
      return id === null || !this.counted.has(id);
    });
    const noId = fresh.filter((i) => itemId(i) === null).length;
    const keyed = fresh.filter((i) => itemId(i) !== null);
    let details: DetailResult[] = [];
    if (entity === 'tests' && keyed.length) {
      const ids = keyed.filter(needsTestDetail).map((t) => itemId(t)!);
      details = (await Promise.all(ids.map((id) => this.client.getDetail('tests', id, { signal: this.deps.signal })))).filter((d): d is DetailResult => d !== null);
    }
    if (this.deps.signal?.aborted) throw new Aborted('aborted'); // a stop request still lets this page land
    const window = this.undated ? { windowStart: null, windowEnd: null } : { windowStart: chunk.chunk_start, windowEnd: chunk.chunk_end };
    const prefix = `bf:${chunk.backfill_id}/${entity}/${this.label}/p${pageNum}${suffix}`;
    const events: RawEvent[] = inWin.length === 0 ? [] : [
      ...s.pages.map((p, i): RawEvent => ({
        runId: chunk.backfill_id, entity, kind: 'list', endpoint: p.path, params: p.params, ...window, pageNumber: p.pageNum, pageSize: p.pageSize,
        httpStatus: p.status, recordCount: p.data.length, body: p.body, fetchedAt: p.fetchedAt, durationMs: p.durationMs, attempts: p.attempts,
        pageKey: s.pages.length > 1 || p.pageSize !== this.size ? `${prefix}.s${i + 1}` : prefix,
      })),
      ...details.map((d): RawEvent => ({
        runId: chunk.backfill_id, entity, kind: 'detail', endpoint: d.path, params: d.params, ...window, httpStatus: d.status, recordCount: 1,
        body: d.body, fetchedAt: d.fetchedAt, durationMs: d.durationMs, attempts: d.attempts,
      })),
    ];
    const skippedPages = s.skippedReason ? [{ page: pageNum, reason: s.skippedReason }] : [];
    if (s.skippedReason) logger.warn(`skipped ${entity} page ${pageNum}: ${s.skippedReason}`, { page: pageNum });
    const landed = await inTransaction(db.pool, async (c) => {
      const { rows: [cls] } = await c.query<{ inserted: number; updated: number; unchanged: number }>(
        `WITH incoming AS (
           SELECT DISTINCT ON (qbsync.rr_id(rec)) qbsync.rr_id(rec) AS id, qbsync.rr_lu(rec) AS lu,
                  CASE WHEN qbsync.rr_lu(rec) IS NULL THEN md5(rec::text) END AS md5
           FROM jsonb_array_elements($2::jsonb) AS rec WHERE qbsync.rr_id(rec) IS NOT NULL
           ORDER BY qbsync.rr_id(rec), qbsync.rr_lu(rec) DESC NULLS LAST
         ), prev AS (
           -- A version first landed by this backfill (a neighbouring chunk sharing a boundary page) is not "before".
           SELECT i.*, r.id AS rid, r.last_updated, r.record_md5, ff.run_id = $3 AS first_ours, cf.run_id = $3 AND r.fetch_id <> r.first_fetch_id AS changed_by_us
           FROM incoming i
           LEFT JOIN qbsync.raw_records r ON r.entity = $1 AND r.id = i.id
           LEFT JOIN raw.fetches ff ON ff.id = r.first_fetch_id
           LEFT JOIN raw.fetches cf ON cf.id = r.fetch_id
         ), cmp AS (
           SELECT rid IS NULL OR coalesce(first_ours, false) AS is_new,
                  rid IS NOT NULL AND NOT coalesce(first_ours, false)
                  AND (lu > last_updated OR (last_updated IS NULL AND lu IS NOT NULL)
                       OR (lu IS NULL AND last_updated IS NULL AND md5 IS DISTINCT FROM record_md5) OR coalesce(changed_by_us, false)) AS is_changed
           FROM prev
         )
         SELECT count(*) FILTER (WHERE is_new)::int AS inserted, count(*) FILTER (WHERE is_changed)::int AS updated,
                count(*) FILTER (WHERE NOT is_new AND NOT is_changed)::int AS unchanged
         FROM cmp`,
        [entity, JSON.stringify(keyed), chunk.backfill_id],
      );
      const r = await insertEvents(c, events);
      const req = this.counter.take(entity);
      await c.query(
        `UPDATE qbsync.backfill_chunks SET next_page = CASE WHEN $2 THEN $3::int + CASE WHEN $14 THEN -1 ELSE 1 END ELSE next_page END,
                total_pages = $4, pages = pages + $5, rows = rows + $6, inserted = inserted + $7, updated = updated + $8,
                unchanged = unchanged + $9, skipped = skipped + $10, details = details + $11, requests = requests + $12,
                skipped_pages = skipped_pages || $13::jsonb
         WHERE chunk_id = $1`,
        [chunk.chunk_id, advance, pageNum, s.totalPages, r.fetchIds.length ? 1 : 0, keyed.length + noId, cls.inserted, cls.updated,
          cls.unchanged, noId, details.length, req.requests, JSON.stringify(skippedPages), this.undated && !this.nullsFirst],
      );
      if (events.length) await this.deps.onLanded?.(c, entity);
      await history.addCounters(
        c, chunk.backfill_id, entity,
        { pages: r.fetchIds.length ? 1 : 0, records: keyed.length, newBodies: r.newBodies, detailFetches: details.length, ...req },
        skippedPages.map((p) => ({ entity, page: p.page, reason: `${this.label}: ${p.reason}` })),
      );
      return r;
    });
    for (const i of keyed) this.counted.add(itemId(i)!);
    this.fetchIds.push(...landed.fetchIds);
    if (landed.fetchIds.length) this.pagesThisAttempt++;
  }
}

// ------------------------------------------------------------------------------------------------ finalize

export interface EntityVolumetry {
  entity: EntityName;
  /** Records inside the range that this backfill's pages returned. */
  fetched: number;
  /** Distinct records raw holds with date_created in the range (deleted ones excluded). */
  raw: number;
  /** Typed rows with date_created in the range (deleted excluded); null when the typed table does not exist. */
  typed: number | null;
  /** Customers only: the undated chunk's records vs raw's customers without a date. */
  undated?: { fetched: number; raw: number; typed: number | null };
  agree: boolean;
  notes: string[];
}

export interface Volumetry {
  from: string;
  to: string;
  /** False when the transforms were not applied before the check: typed counts are shown, not compared. */
  typedChecked: boolean;
  entities: EntityVolumetry[];
  agree: boolean;
  checkedAt: string;
}

async function typedCount(db: Database, entity: EntityName, from: Date | null, to: Date | null): Promise<number | null> {
  const { rows: [t] } = await db.pool.query<{ ok: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'qbench' AND table_name = $1 AND column_name = 'date_created') AS ok`,
    [entity],
  );
  if (!t.ok) return null;
  const { rows: [d] } = await db.pool.query<{ ok: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'qbench' AND table_name = $1 AND column_name = 'deleted') AS ok`,
    [entity],
  );
  const notDeleted = d.ok ? 'AND NOT deleted' : '';
  const where = from ? `date_created >= $1 AND date_created < $2` : `date_created IS NULL`;
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM qbench.${entity} WHERE ${where} ${notDeleted}`,
    from ? [from, to] : [],
  );
  return rows[0].n;
}

export async function computeVolumetry(db: Database, backfillId: string, opts: { checkTyped?: boolean } = {}): Promise<Volumetry> {
  const checkTyped = opts.checkTyped ?? true;
  const got = await getBackfill(db.pool, backfillId);
  if (!got) throw new QbsyncError(`no backfill ${backfillId}`);
  const { backfill: bf, chunks } = got;
  const entities: EntityVolumetry[] = [];
  await indexRaw(db.pool);
  for (const entity of bf.entities) {
    const mine = chunks.filter((c) => c.entity === entity);
    const fetched = mine.filter((c) => c.chunk_start).reduce((a, c) => a + c.rows, 0);
    const { rows: [r] } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM qbsync.raw_records WHERE entity = $1 AND date_created >= $2 AND date_created < $3 AND NOT deleted`,
      [entity, bf.range_from, bf.range_to],
    );
    const typed = await typedCount(db, entity, bf.range_from, bf.range_to);
    const v: EntityVolumetry = { entity, fetched, raw: r.n, typed, agree: true, notes: [] };
    const und = mine.find((c) => !c.chunk_start);
    if (und) {
      const { rows: [u] } = await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM qbsync.raw_records WHERE entity = $1 AND date_created IS NULL AND NOT deleted`, [entity],
      );
      v.undated = { fetched: und.rows, raw: u.n, typed: await typedCount(db, entity, null, null) };
    }
    const explain = (what: string, f: number, rw: number, ty: number | null) => {
      if (rw > f) v.notes.push(`${what}raw holds ${rw - f} more than QBench returned now (deleted in QBench, or moved out of the range, since they were landed)`);
      if (rw < f) v.notes.push(`${what}QBench returned ${f - rw} records raw does not hold with a date in the range (unreadable date_created?)`);
      if (!checkTyped) return;
      if (ty !== null && ty < rw) v.notes.push(`${what}typed table has ${rw - ty} fewer rows than raw (transforms not applied yet, or rows with unreadable dates)`);
      if (ty !== null && ty > rw) v.notes.push(`${what}typed table has ${ty - rw} more rows than raw (rows deleted in QBench not yet marked deleted?)`);
    };
    explain('', fetched, r.n, typed);
    if (v.undated) explain('undated: ', v.undated.fetched, v.undated.raw, v.undated.typed);
    v.agree = v.notes.length === 0;
    entities.push(v);
  }
  return { from: bf.range_from.toISOString(), to: bf.range_to.toISOString(), typedChecked: checkTyped, entities, agree: entities.every((e) => e.agree), checkedAt: new Date().toISOString() };
}

export function formatVolumetry(v: Volumetry): string[] {
  const lines = [`volumetry for [${v.from}, ${v.to}):`, `  entity       fetched        raw      typed`];
  const num = (n: number | null) => (n === null ? '-' : String(n)).padStart(10);
  for (const e of v.entities) {
    lines.push(`  ${e.entity.padEnd(10)} ${num(e.fetched)} ${num(e.raw)} ${num(e.typed)}   ${e.agree ? 'ok' : 'DISAGREE'}`);
    if (e.undated) lines.push(`  ${'(undated)'.padEnd(10)} ${num(e.undated.fetched)} ${num(e.undated.raw)} ${num(e.undated.typed)}`);
    for (const n of e.notes) lines.push(`    ! ${e.entity}: ${n}`);
  }
  if (!v.typedChecked) lines.push('  (typed rows shown, not compared: the transforms were not applied before this check)');
  lines.push(v.agree ? `volumetry: fetched, raw${v.typedChecked ? ' and typed' : ''} counts agree` : 'volumetry: COUNTS DISAGREE (see the lines marked !)');
  return lines;
}

export interface FinalizeResult {
  backfill: BackfillRow;
  chunks: ChunkRow[];
  volumetry: Volumetry;
  recovery: RecoveryResult | null;
}

/**
 * Once every chunk is done (or failed for good): recover missing parents of what the backfill landed, apply
 * the transforms (when given), check volumetry, and close the backfill and its run. One process does it
 * (advisory lock); returns null when the backfill still has open chunks or another process is finalizing it.
 */
export async function finalizeBackfill(deps: ChunkDeps, backfillId: string): Promise<FinalizeResult | null> {
  const { db } = deps;
  const conn = await (deps.lockPool ?? db.pool).connect();
  let locked = false;
  try {
    const { rows: [l] } = await conn.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok`, [FINAL_LOCK, backfillId]);
    locked = l.ok;
    if (!locked) return null;
    const got = await getBackfill(db.pool, backfillId);
    if (!got) throw new QbsyncError(`no backfill ${backfillId}`);
    if (got.backfill.status !== 'running') {
      return { backfill: got.backfill, chunks: got.chunks, volumetry: got.backfill.volumetry ?? (await computeVolumetry(db, backfillId, { checkTyped: false })), recovery: null };
    }
    if (got.chunks.some((c) => c.status === 'pending' || c.status === 'running')) return null;
    const logger = deps.logger.child({ run_id: backfillId });
    const entities = got.backfill.entities;
    let recovery: RecoveryResult | null = null;
    const counter = new RequestCounter();
    try {
      recovery = await recoverParents({
        db, client: deps.makeClient(counter.onEvent), logger, runId: backfillId, children: entities, maxParents: deps.recoveryMaxParents,
        onLanded: deps.onLanded, counter, signal: deps.signal,
      });
    } catch (err) {
      logger.warn(`parent recovery failed: ${errorMessage(err)}`);
    }
    if (deps.signal?.aborted) return null;
    if (deps.transform) {
      const targets = ENTITY_NAMES.filter((e) => entities.includes(e) || (recovery?.recoveredByEntity[e] ?? 0) > 0);
      try {
        await deps.transform(targets);
      } catch (err) {
        logger.warn(`transforms before the volumetry check failed: ${errorMessage(err)}`);
      }
    }
    const volumetry = await computeVolumetry(db, backfillId, { checkTyped: !!deps.transform });
    const failed = got.chunks.filter((c) => c.status === 'failed');
    const skipped = got.chunks.reduce((a, c) => a + c.skipped_pages.length, 0);
    const status = failed.length ? 'partial' : skipped ? 'partial' : 'succeeded';
    const error = failed.length ? `${failed.length} chunk(s) failed: ${failed.slice(0, 3).map((c) => `${c.entity} ${chunkLabel(c)}: ${c.error}`).join('; ')}` : null;
    await inTransaction(db.pool, async (c) => {
      await c.query(
        `UPDATE qbsync.backfills SET status = $2, finished_at = now(), volumetry = $3::jsonb, error = $4 WHERE backfill_id = $1`,
        [backfillId, status, JSON.stringify(volumetry), error],
      );
      for (const e of entities) {
        const bad = failed.some((f) => f.entity === e);
        await history.finishRunEntity(c, backfillId, e, bad ? 'failed' : 'succeeded', bad ? 'some chunks failed' : undefined);
      }
      await history.finishRun(c, backfillId, status, error ?? undefined);
    });
    for (const line of formatVolumetry(volumetry)) {
      if (volumetry.agree) logger.info(line);
      else logger.warn(line);
    }
    logger.info(`backfill ${backfillId} ${status}`, { status, failed_chunks: failed.length });
    const after = await getBackfill(db.pool, backfillId);
    return { backfill: after!.backfill, chunks: after!.chunks, volumetry, recovery };
  } finally {
    if (locked) await conn.query(`SELECT pg_advisory_unlock($1, hashtext($2))`, [FINAL_LOCK, backfillId]).catch(() => undefined);
    conn.release();
  }
}
