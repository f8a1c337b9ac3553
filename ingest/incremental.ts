/**
 * Incremental catch-up for one entity, from its watermark (QBench's clock) minus an overlap.
 *
 * Entities with a v1 Updates feed (customers, orders, samples, tests, assays) ask it once with
 * return_objects=true: every record changed since — including state changes of records created long
 * ago — and the ids deleted since, in one request when little changed. The downloader this replaces only
 * re-read records created inside a recent window, so it missed both.
 *
 * Batches and reports have no feed: we walk their list newest-change first (sort_by=last_updated desc)
 * and stop at the first record older than the watermark, so an unchanged entity costs one request.
 *
 * Re-delivery is harmless (the transforms keep the newest version), so the overlap only costs bytes.
 */
import { entityInfo, type EntityName } from './entities.js';
import { needsTestDetail, type DetailResult } from './client/index.js';
import { insertEvents, inTransaction, type RawEvent } from './landing.js';
import { getWatermark, setWatermark } from './checkpoints.js';
import { addCounters } from './run-history.js';
import { serverDateOf, withPageRetry, type PassContext, type PassResult } from './full-pass.js';
import { QbsyncError } from '../core/index.js';

/** How far before the watermark each incremental looks again (clock skew, in-flight writes). */
export const OVERLAP_MS = 5 * 60_000;
/** Guard for entities without a feed: never walk more than this many pages in one incremental. */
const MAX_WINDOW_PAGES = 2000;

function lastUpdatedSeconds(item: unknown): number | null {
  const v = (item as { last_updated?: unknown })?.last_updated;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isFinite(n) ? n : null;
}

async function testDetails(ctx: PassContext, items: unknown[]): Promise<DetailResult[]> {
  const ids = items.filter(needsTestDetail).map((t) => (t as { id?: number | string }).id).filter((id) => id != null) as Array<number | string>;
  const details = await Promise.all(ids.map((id) => ctx.client.getDetail('tests', id, { signal: ctx.signal })));
  return details.filter((d): d is DetailResult => d !== null);
}

function detailEvents(ctx: PassContext, entity: EntityName, details: DetailResult[]): RawEvent[] {
  return details.map((d) => ({
    runId: ctx.runId, entity, kind: 'detail' as const, endpoint: d.path, params: d.params, httpStatus: d.status, recordCount: 1,
    body: d.body, fetchedAt: d.fetchedAt, durationMs: d.durationMs, attempts: d.attempts,
  }));
}

export async function runIncremental(ctx: PassContext, entity: EntityName): Promise<PassResult> {
  const { db, client, logger, runId, progress, counter } = ctx;
  const info = entityInfo(entity);
  const wm = await getWatermark(db.pool, entity);
  if (!wm) throw new QbsyncError(`${entity} has no watermark yet; run a full sync first (qbsync sync --full --entity ${entity})`);
  const since = new Date(wm.since_at.getTime() - OVERLAP_MS);
  const sinceUnix = Math.floor(since.getTime() / 1000);
  progress.entityStarted(entity, { startPage: 1, totalPages: info.updatesFeed ? 1 : null, mode: 'incremental' });
  const onRetry = (err: unknown, attempt: number) => logger.warn('database unavailable while landing; retrying', { entity, attempt, error: (err as Error).message });

  if (info.updatesFeed) {
    const r = await withPageRetry(() => client.getUpdates(entity, sinceUnix, { returnObjects: true, signal: ctx.signal }), logger, `${entity} updates`, ctx.signal);
    const objects = r.updated.filter((u) => typeof u === 'object');
    const details = entity === 'tests' ? await withPageRetry(() => testDetails(ctx, objects), logger, `${entity} details`, ctx.signal) : [];
    const until = serverDateOf(r);
    const records = r.updated.length + r.deleted.length;
    await inTransaction(db.pool, async (c) => {
      const landed = await insertEvents(c, [
        {
          runId, entity, kind: 'updates', endpoint: r.path, params: r.params, windowStart: since, windowEnd: until, httpStatus: r.status,
          recordCount: records, body: r.body, fetchedAt: r.fetchedAt, durationMs: r.durationMs, attempts: r.attempts,
        },
        ...detailEvents(ctx, entity, details),
      ]);
      await setWatermark(c, entity, until, 'updates', runId);
      await ctx.onLanded?.(c, entity);
      await addCounters(c, runId, entity, { pages: 1, records, newBodies: landed.newBodies, detailFetches: details.length, ...counter.take(entity) });
    }, { onRetry });
    progress.pageLanded(entity, { page: 1, totalPages: 1, records, pagesDone: 1, recordsDone: records });
    logger.debug('landed updates', { entity, since: since.toISOString(), updated: r.updated.length, deleted: r.deleted.length });
    return { pages: 1, records, skipped: [], completed: true };
  }

  // No feed: newest changes first, until we pass the watermark.
  let pages = 0;
  let records = 0;
  let until: Date | null = null;
  for (let pageNum = 1; pageNum <= MAX_WINDOW_PAGES; pageNum++) {
    if (ctx.signal?.aborted) return { pages, records, skipped: [], completed: false };
    const page = await withPageRetry(
      () => client.listPage(entity, { pageNum, sortBy: 'last_updated', sortOrder: 'desc', signal: ctx.signal }), logger, `${entity} page ${pageNum}`, ctx.signal,
    );
    if (page.skipped) throw new QbsyncError(`${entity} page ${pageNum} was refused by QBench: ${page.reason}`);
    until ??= serverDateOf(page);
    const reachedOld = page.data.some((item) => (lastUpdatedSeconds(item) ?? 0) < sinceUnix);
    const last = page.data.length === 0 || pageNum >= page.totalPages || reachedOld;
    const windowEnd = until;
    await inTransaction(db.pool, async (c) => {
      const landed = await insertEvents(c, [{
        runId, entity, kind: 'list', endpoint: page.path, params: page.params, windowStart: since, windowEnd, pageNumber: pageNum,
        pageSize: page.pageSize, httpStatus: page.status, recordCount: page.data.length, body: page.body, fetchedAt: page.fetchedAt,
        durationMs: page.durationMs, attempts: page.attempts,
      }]);
      if (last) await setWatermark(c, entity, windowEnd, 'window', runId);
      await ctx.onLanded?.(c, entity);
      await addCounters(c, runId, entity, { pages: 1, records: page.data.length, newBodies: landed.newBodies, ...counter.take(entity) });
    }, { onRetry });
    pages++;
    records += page.data.length;
    progress.pageLanded(entity, { page: pageNum, totalPages: page.totalPages, records: page.data.length, pagesDone: pages, recordsDone: records });
    if (last) break;
  }
  return { pages, records, skipped: [], completed: true };
}
