/**
 * A full pass over one entity: every list page sorted by id ascending (the only order that stays stable
 * while QBench adds records: new ids land on the last pages), from the checkpoint's next page to the end.
 *
 * Pages are fetched a few ahead concurrently (the client's budget and concurrency limit bound it) and
 * landed strictly in order, each in one transaction with the checkpoint, so a crash at any point resumes
 * at the first page not landed. Test pages whose items lack the metric fields get those items' details
 * fetched first and landed in the same transaction.
 */
import type { Logger } from '../core/index.js';
import type { Database } from '../core/database.js';
import { entityInfo, type EntityName } from './entities.js';
import {
  needsTestDetail, QBenchHttpError, QBenchTransientError, type ListPage, type PageResult, type QBenchClient, type DetailResult,
} from './client/index.js';
import { insertEvents, inTransaction, storeBodies, type RawEvent } from './landing.js';
import * as checkpoints from './checkpoints.js';
import { addCounters, type SkippedPage } from './run-history.js';
import type { ProgressSink } from './progress.js';
import type { RequestCounter } from './request-counter.js';

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
    const listEvent = (p: ListPage, key: string): RawEvent => ({
      runId, entity, kind: 'list', endpoint: p.path, params: p.params, pageNumber: p.pageNum, pageSize: p.pageSize,
      httpStatus: p.status, recordCount: p.data.length, body: p.body, fetchedAt: p.fetchedAt, durationMs: p.durationMs,
      attempts: p.attempts, pageKey: key,
    });
    if (!page.skipped) {
      events.push(listEvent(page, `${passId}/${entity}/p${pageNum}`));
      out.records += page.data.length;
    }
    out.recovered.forEach((p, i) => {
      events.push(listEvent(p, `${passId}/${entity}/p${pageNum}.s${i + 1}`));
      out.records += p.data.length;
    });
    for (const d of out.details) {
      events.push({
        runId, entity, kind: 'detail', endpoint: d.path, params: d.params, httpStatus: d.status, recordCount: 1, body: d.body,
        fetchedAt: d.fetchedAt, durationMs: d.durationMs, attempts: d.attempts,
      });
    }
    const stored = await storeBodies(db.pool, events, {
      onRetry: (err, attempt) => logger.warn('database unavailable while storing page bodies; retrying', { entity, page: pageNum, attempt, error: (err as Error).message }),
    });
    out.events = stored.events;
    out.newBodies = stored.newBodies;
    return out;
  };

  const ahead = Math.max(0, ctx.prefetch ?? 4);
  const inflight = new Map<number, Promise<FetchedPage>>();
  const request = (n: number) => {
    if (!inflight.has(n)) {
      const p = withPageRetry(() => fetchPage(n), logger, `${entity} page ${n}`, ctx.signal);
      p.catch(() => undefined); // observed when awaited; avoid unhandled rejections for prefetched pages
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

  for (;;) {
    if (ctx.signal?.aborted) return { pages: pagesDone, records: recordsDone, skipped, completed: false };
    if (totalPages !== null) for (let k = 1; k <= ahead && pageNum + k <= totalPages; k++) request(pageNum + k);
    const fetched = await request(pageNum);
    inflight.delete(pageNum);
    const { page } = fetched;
    if (!page.skipped) totalPages = page.totalPages;

    const { events, records } = fetched;
    const pageSkips: SkippedPage[] = [];
    if (page.skipped) {
      const reason = fetched.stillSkipped ?? `${page.reason}; recovered with ${fetched.recovered.length} smaller pages`;
      if (fetched.stillSkipped) {
        pageSkips.push({ entity, page: pageNum, reason });
        logger.warn(`skipped ${entity} page ${pageNum}: ${reason}`, { entity, page: pageNum });
      } else {
        logger.info(`${entity} page ${pageNum} refused by QBench; its records were fetched in ${fetched.recovered.length} smaller pages`, { entity, page: pageNum });
      }
    }
    const done = page.skipped ? false : page.data.length === 0 || pageNum >= page.totalPages;
    const landed = await inTransaction(
      db.pool,
      async (c) => {
        const r = await insertEvents(c, events);
        await checkpoints.advance(c, entity, passId, pageNum, totalPages, records, serverDateOf(page));
        if (done) await checkpoints.completePass(c, entity, passId, runId);
        await ctx.onLanded?.(c, entity);
        await addCounters(c, runId, entity, { pages: 1, records, newBodies: fetched.newBodies, detailFetches: fetched.details.length, ...counter.take(entity) }, pageSkips);
        return r;
      },
      { asyncCommit: true, onRetry: (err, attempt) => logger.warn('database unavailable while landing; retrying', { entity, page: pageNum, attempt, error: (err as Error).message }) },
    );
    if (landed.duplicates) logger.debug('page already landed by an earlier run of this pass', { entity, page: pageNum });
    skipped.push(...pageSkips);
    pagesDone++;
    recordsDone += records;
    progress.pageLanded(entity, { page: pageNum, totalPages, records, pagesDone, recordsDone });
    logger.debug('landed page', { entity, page: pageNum, total_pages: totalPages, records, new_bodies: fetched.newBodies, details: fetched.details.length });
    if (done) break;
    pageNum++;
  }
  return { pages: pagesDone, records: recordsDone, skipped, completed: true };
}
