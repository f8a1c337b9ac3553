/**
 * A full pass over one entity: every list page sorted by id ascending (the only order that stays stable
 * while QBench adds records: new ids land on the last pages), from the checkpoint's next page to the end.
 *
 * Pages are fetched a few ahead concurrently (the client's budget and concurrency limit bound it), their
 * bodies stored as they arrive, and landed strictly in order, each in one statement with the checkpoint and
 * the run's counters, so a crash at any point resumes at the first page not landed; pages already fetched
 * when their turn comes are landed together in that statement. Test pages whose items lack the metric fields
 * get those items' details fetched first and landed with their page.
 */
import type { Logger } from '../core/index.js';
import type { Database } from '../core/database.js';
import { entityInfo, type EntityName } from './entities.js';
import {
  needsTestDetail, QBenchHttpError, QBenchTransientError, type ListPage, type PageResult, type QBenchClient, type DetailResult,
} from './client/index.js';
import crypto from 'node:crypto';
import type pg from 'pg';
import { eventsCte, inTransaction, isMissingBody, storeBodies, withDbRetry, type LandResult, type RawEvent } from './landing.js';
import * as checkpoints from './checkpoints.js';
import { countersCte, type SkippedPage } from './run-history.js';
import { SqlParams } from './sql.js';
import type { ProgressSink } from './progress.js';
import type { RequestCounter } from './request-counter.js';
import type { BodyPool } from './body-pool.js';

export interface PassContext {
  db: Database;
  client: QBenchClient;
  logger: Logger;
  runId: string;
  progress: ProgressSink;
  counter: RequestCounter;
  signal?: AbortSignal;
  /** Pages fetched ahead of the one being landed. */
  prefetch?: number;
  /** Prepares the pages' bodies on worker threads (body-pool.ts); without it, or when it fails, this thread does. */
  bodies?: BodyPool;
  /**
   * Called inside every landing transaction (e.g. to queue the entity's transform job on the same
   * client, so a page is never landed without its transform being queued, or the reverse).
   */
  onLanded?: (tx: import('pg').PoolClient, entity: EntityName) => Promise<void>;
}

export interface PassResult {
  pages: number;
  records: number;
  skipped: SkippedPage[];
  completed: boolean;
}

/** When QBench refuses a test page for good, the same slice is asked again in pages this much smaller. */
const SPLIT_FACTOR = 5;

interface FetchedPage {
  page: PageResult;
  /** Sub-pages fetched to recover a skipped page's records. */
  recovered: ListPage[];
  stillSkipped: string | null;
  details: DetailResult[];
  /** The page's events, bodies already stored (see storeBodies). */
  events: RawEvent[];
  records: number;
  newBodies: number;
}

/** QBench's clock when it answered (its Date header); our own clock if the header was missing. */
export function serverDateOf(r: { serverDate?: Date | null; fetchedAt: Date }): Date {
  return r.serverDate ?? r.fetchedAt;
}

/** Whole client retry rounds a page gets (each round is the client's own 6 tries) before the entity fails. */
const PAGE_ROUNDS = 3;

/**
 * The client gives up on a request after 6 tries; a long outage or a very faulty stretch can exhaust
 * that. A page gets a few more rounds after a pause before the pass fails (the run then ends failed
 * and the next one resumes from the checkpoint). Only transient failures (5xx, 429, timeouts, dropped
 * connections, bad bodies) are retried; 4xx and auth failures are not.
 */
export async function withPageRetry<T>(fn: () => Promise<T>, logger: Logger, what: string, signal?: AbortSignal): Promise<T> {
  for (let round = 1; ; round++) {
    try {
      return await fn();
    } catch (err) {
      const transient = err instanceof QBenchTransientError || (err instanceof QBenchHttpError && (err.status >= 500 || err.status === 429));
      if (!transient || round >= PAGE_ROUNDS || signal?.aborted) throw err;
      logger.warn(`${what}: ${(err as Error).message}; trying again (round ${round + 1} of ${PAGE_ROUNDS})`);
      await new Promise((r) => setTimeout(r, 1000 * round));
    }
  }
}

export async function runFullPass(ctx: PassContext, entity: EntityName, pageSize: number): Promise<PassResult> {
  const { db, client, logger, runId, progress, counter } = ctx;
  const info = entityInfo(entity);
  let cp = await checkpoints.getCheckpoint(db.pool, entity);
  if (cp && cp.status !== 'completed' && cp.mode === 'full') {
    await checkpoints.claimPass(db.pool, entity, runId);
    logger.info(`resuming full pass of ${entity} at page ${cp.next_page}`, { entity, pass_id: cp.pass_id, page: cp.next_page });
  } else {
    cp = await checkpoints.beginPass(db.pool, entity, runId, 'full', pageSize);
  }
  const passId = cp.pass_id;
  const size = cp.page_size; // keep the pass's page size so page N is the same slice after a resume
  const sort = info.defaultSort;

  let poolWarned = false;
  /** The body pool failed: this page's bodies (and the pool's next failures) are prepared here instead. */
  function poolFailed(err: unknown): null {
    if (!poolWarned) logger.warn(`body workers unavailable (${(err as Error).message}); preparing page bodies on the main thread`, { entity });
    poolWarned = true;
    return null;
  }

  const fetchPage = async (pageNum: number): Promise<FetchedPage> => {
    const page = await client.listPage(entity, { pageNum, pageSize: size, sortBy: sort.sortBy, sortOrder: sort.sortOrder, signal: ctx.signal });
    const out: FetchedPage = { page, recovered: [], stillSkipped: null, details: [], events: [], records: 0, newBodies: 0 };
    let items: unknown[] = page.skipped ? [] : page.data;
    if (page.skipped) {
      // Ask for the same slice in smaller pages: QBench's 400s are per page, not per record.
      let sub = Math.max(1, Math.floor(size / SPLIT_FACTOR));
      while (size % sub !== 0) sub--; // sub-pages must tile the page exactly
      const parts = size / sub;
      const first = (pageNum - 1) * parts + 1;
      for (let i = 0; i < parts; i++) {
        const p = await client.listPage(entity, { pageNum: first + i, pageSize: sub, sortBy: sort.sortBy, sortOrder: sort.sortOrder, signal: ctx.signal });
        if (p.skipped) {
          out.stillSkipped = `${page.reason}; recovery with page_size ${sub} failed on sub-page ${first + i}: ${p.reason}`;
          break;
        }
        out.recovered.push(p);
        items = items.concat(p.data);
      }
    }
    if (entity === 'tests') {
      const ids = items.filter(needsTestDetail).map((t) => (t as { id?: unknown }).id).filter((id) => id != null) as Array<number | string>;
      const details = await Promise.all(ids.map((id) => client.getDetail('tests', id, { signal: ctx.signal })));
      out.details = details.filter((d): d is DetailResult => d !== null);
    }
    const events: RawEvent[] = [];
    // Each event's response text, pushed with it (the body pool prepares bodies from the texts, in the same order).
    const texts: string[] = [];
    const add = (event: RawEvent, text: string) => {
      events.push(event);
      texts.push(text);
    };
    const listEvent = (p: ListPage, key: string): RawEvent => ({
      runId, entity, kind: 'list', endpoint: p.path, params: p.params, pageNumber: p.pageNum, pageSize: p.pageSize,
      httpStatus: p.status, recordCount: p.data.length, body: p.body, fetchedAt: p.fetchedAt, durationMs: p.durationMs,
      attempts: p.attempts, pageKey: key,
    });
    if (!page.skipped) {
      add(listEvent(page, `${passId}/${entity}/p${pageNum}`), page.text);
      out.records += page.data.length;
    }
    out.recovered.forEach((p, i) => {
      add(listEvent(p, `${passId}/${entity}/p${pageNum}.s${i + 1}`), p.text);
      out.records += p.data.length;
    });
    for (const d of out.details) {
      add({
        runId, entity, kind: 'detail', endpoint: d.path, params: d.params, httpStatus: d.status, recordCount: 1, body: d.body,
        fetchedAt: d.fetchedAt, durationMs: d.durationMs, attempts: d.attempts,
      }, d.text);
    }
    const prepared = ctx.bodies ? await ctx.bodies.prepare(texts).catch(poolFailed) : null;
    const stored = await storeBodies(db.pool, prepared ? events.map((e, i) => ({ ...e, stored: prepared[i] })) : events, {
      onRetry: (err, attempt) => logger.warn('database unavailable while storing page bodies; retrying', { entity, page: pageNum, attempt, error: (err as Error).message }),
    });
    out.events = stored.events;
    out.newBodies = stored.newBodies;
    return out;
  };

  const ahead = Math.max(0, ctx.prefetch ?? 4);
  const inflight = new Map<number, Promise<FetchedPage>>();
  /** Prefetched pages whose fetch and body store have finished: landed with the page before them. */
  const ready = new Map<number, FetchedPage>();
  const request = (n: number) => {
    if (!inflight.has(n)) {
      const p = withPageRetry(() => fetchPage(n), logger, `${entity} page ${n}`, ctx.signal);
      p.then((f) => inflight.get(n) === p && ready.set(n, f), () => undefined); // failures are observed when awaited
      inflight.set(n, p);
    }
    return inflight.get(n)!;
  };

  let pageNum = cp.next_page;
  let totalPages: number | null = cp.total_pages;
  let pagesDone = 0;
  let recordsDone = 0;
  const skipped: SkippedPage[] = [];
  progress.entityStarted(entity, { startPage: pageNum, totalPages, mode: 'full' });

  interface Landing { num: number; fetched: FetchedPage; done: boolean; skips: SkippedPage[] }
  const take = (num: number, fetched: FetchedPage): Landing => {
    inflight.delete(num);
    ready.delete(num);
    const { page } = fetched;
    if (!page.skipped) totalPages = page.totalPages;
    const skips: SkippedPage[] = [];
    if (page.skipped) {
      const reason = fetched.stillSkipped ?? `${page.reason}; recovered with ${fetched.recovered.length} smaller pages`;
      if (fetched.stillSkipped) {
        skips.push({ entity, page: num, reason });
        logger.warn(`skipped ${entity} page ${num}: ${reason}`, { entity, page: num });
      } else {
        logger.info(`${entity} page ${num} refused by QBench; its records were fetched in ${fetched.recovered.length} smaller pages`, { entity, page: num });
      }
    }
    const done = page.skipped ? false : page.data.length === 0 || num >= page.totalPages;
    return { num, fetched, done, skips };
  };

  for (;;) {
    if (ctx.signal?.aborted) return { pages: pagesDone, records: recordsDone, skipped, completed: false };
    if (totalPages !== null) for (let k = 1; k <= ahead && pageNum + k <= totalPages; k++) request(pageNum + k);
    // The next page, and the pages after it that are already fetched: landed together (when landing falls behind
    // fetching, fewer and larger landings catch up), in order, in one statement.
    const batch = [take(pageNum, await request(pageNum))];
    for (let n = pageNum + 1; !batch[batch.length - 1].done && ready.has(n); n++) batch.push(take(n, ready.get(n)!));
    const landed = await landPages(ctx, entity, passId, batch, totalPages);
    if (landed.duplicates) logger.debug('pages already landed by an earlier run of this pass', { entity, pages: `${pageNum}-${pageNum + batch.length - 1}` });
    for (const l of batch) {
      skipped.push(...l.skips);
      pagesDone++;
      recordsDone += l.fetched.records;
      progress.pageLanded(entity, { page: l.num, totalPages, records: l.fetched.records, pagesDone, recordsDone });
      logger.debug('landed page', { entity, page: l.num, total_pages: totalPages, records: l.fetched.records, new_bodies: l.fetched.newBodies, details: l.fetched.details.length });
    }
    if (batch[batch.length - 1].done) break;
    pageNum += batch.length;
  }
  return { pages: pagesDone, records: recordsDone, skipped, completed: true };
}

/**
 * Lands consecutive pages of a pass (their events, whose bodies are already stored) with the checkpoint's move past
 * them, the pass's completion when the last one ends it (and the entity's watermark), and the run's counters: ONE
 * statement, so all of it commits or none, in one round trip. The checkpoint must be at the first page: otherwise
 * nothing is written and the pass stops (checkpointMoved). Without an onLanded hook the statement is its own
 * transaction (asynchronous commit, set inside it); with one, hook and statement share a transaction.
 */
async function landPages(
  ctx: PassContext, entity: EntityName, passId: string, batch: Array<{ num: number; fetched: FetchedPage; done: boolean; skips: SkippedPage[] }>,
  totalPages: number | null,
): Promise<LandResult> {
  const { db, logger, runId, counter } = ctx;
  const first = batch[0];
  const last = batch[batch.length - 1];
  const events = batch.flatMap((l) => l.fetched.events);
  const sum = (f: (x: FetchedPage) => number) => batch.reduce((a, l) => a + f(l.fetched), 0);
  const records = sum((x) => x.records);
  const inTx = !!ctx.onLanded;
  const p = new SqlParams();
  const guard = 'EXISTS (SELECT 1 FROM cp)';
  const advance = checkpoints.advanceCte(p, {
    entity, passId, fromPage: first.num, toPage: last.num, totalPages, records, serverDate: serverDateOf(first.fetched.page), complete: last.done,
  });
  const ev = eventsCte(p, events, guard);
  const wm = last.done ? checkpoints.watermarkCte(p, entity, 'SELECT since FROM cp', 'full', runId) : null;
  const counts = countersCte(
    p, runId, entity,
    { pages: batch.length, records, newBodies: sum((x) => x.newBodies), detailFetches: sum((x) => x.details.length), ...counter.take(entity) },
    batch.flatMap((l) => l.skips), guard,
  );
  const sql = `WITH cp AS (${advance}), b AS (${ev.bodies}), f AS (${ev.fetches})${wm ? `, wm AS (${wm})` : ''},
                    e AS (${counts.entity}), r AS (${counts.run})
               SELECT (SELECT count(*) FROM cp)::int AS moved, (SELECT count(*) FROM b)::int AS new_bodies,
                      coalesce((SELECT array_agg(id ORDER BY id) FROM f), '{}') AS ids
                      ${inTx ? '' : `, set_config('synchronous_commit', 'off', true) AS async_commit`}`;
  type Row = { moved: number; new_bodies: number; ids: number[] };
  const onRetry = (err: unknown, attempt: number) =>
    logger.warn('database unavailable while landing; retrying', { entity, page: first.num, attempt, error: (err as Error).message });
  // A named statement: parsed and planned once per connection (the text depends only on the two flags above).
  const name = `qbsync_land_${crypto.createHash('md5').update(sql).digest('hex').slice(0, 16)}`;
  const run = async (q: pg.Pool | pg.PoolClient): Promise<Row> => {
    const { rows: [row] } = await q.query<Row>({ name, text: sql, values: p.values });
    if (row.moved !== 1) throw checkpoints.checkpointMoved(entity, first.num);
    return row;
  };
  const land = () => inTx
    ? inTransaction(db.pool, async (c) => {
      const r = await run(c);
      await ctx.onLanded!(c, entity);
      return r;
    }, { asyncCommit: true, onRetry })
    : withDbRetry(() => run(db.pool), { onRetry });
  let row: Row;
  try {
    row = await land();
  } catch (err) {
    if (!isMissingBody(err)) throw err;
    // A body stored ahead was lost (Postgres crashed before its asynchronous commit reached the disk): store the
    // batch's bodies again and land once more.
    logger.warn('a page body stored ahead is missing (lost in a database crash); storing it again', { entity, page: first.num });
    await storeBodies(db.pool, events, { onRetry });
    row = await land();
  }
  const ids = row.ids.map(Number);
  return { fetchIds: ids, newBodies: row.new_bodies, duplicates: events.length - ids.length };
}
