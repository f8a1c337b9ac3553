/**
 * Parent recovery: after a sync or a backfill chunk, children whose parent raw does not hold (a test whose
 * sample, a sample whose order, an order whose customer is missing) get that parent fetched by id and landed
 * as a `detail` event — the downloader's recovery (qbench-api.md §6), done once per missing id instead of
 * on every page.
 *
 * "In raw" is answered by qbsync.raw_records (the per-record index of raw), brought up to date (ingest/raw-index.ts)
 * before each lookup, so every event landed before it — this call's recovered parents included — counts.
 * Links are walked child → parent (tests → samples → orders → customers), so a recovered sample's missing
 * order is found in the same call. Each parent gets 3 tries in all, across runs: QBench's 404 is recorded as
 * `unknown_<entity>` in qbsync.recovery_log, other refusals as `detail_http_<status>`, and a parent that
 * failed 3 times is not asked again (it stays listed there). A call asks for at most `maxParents` parents per
 * entity: more missing than that means the parent entity itself was never synced, which a sync of it fixes
 * in bulk far more cheaply than one request per id.
 */
import type { Logger } from '../core/index.js';
import type { Database } from '../core/database.js';
import { errorMessage } from '../core/index.js';
import { entityInfo, type EntityName } from './entities.js';
import { QBenchHttpError, type DetailResult, type QBenchClient } from './client/index.js';
import { insertEvents, inTransaction, type RawEvent } from './landing.js';
import { addCounters } from './run-history.js';
import { indexRaw } from './raw-index.js';
import type { RequestCounter } from './request-counter.js';
import type { PassContext } from './full-pass.js';

/** child entity → [parent entity, the child's field holding the parent id]; walked in this order. */
export const PARENT_LINKS: ReadonlyArray<readonly [EntityName, EntityName, string]> = [
  ['tests', 'samples', 'sample_id'],
  ['samples', 'orders', 'order_id'],
  ['orders', 'customers', 'customer_account_id'],
];

/** Tries per parent id, across runs. */
export const MAX_TRIES = 3;
export const DEFAULT_MAX_PARENTS = 500;

export interface RecoveryOptions {
  db: Database;
  client: QBenchClient;
  logger: Logger;
  /** The run the recovered events belong to (raw.fetches.run_id) and whose landed records are checked. */
  runId: string;
  /** Check only the records of these fetches (default: every fetch of the run). Recovered fetches are added. */
  fetchIds?: number[];
  /** Child entities to check (default all that have a parent). */
  children?: readonly EntityName[];
  maxParents?: number;
  onLanded?: PassContext['onLanded'];
  counter?: RequestCounter;
  signal?: AbortSignal;
}

export interface RecoveryFailure {
  entity: EntityName;
  id: number;
  reason: string;
  childEntity: EntityName;
  childId: number;
}

export interface RecoveryResult {
  /** Parent ids found missing. */
  missing: number;
  recovered: number;
  failed: RecoveryFailure[];
  /** Missing parents not asked again because they already failed MAX_TRIES times. */
  gaveUp: number;
  /** Missing parents beyond maxParents, left for a sync of the parent entity. */
  deferred: number;
  recoveredByEntity: Partial<Record<EntityName, number>>;
}

interface Missing {
  parent_id: number;
  child_id: number;
  attempts: number;
}

/** Parents referenced by the scoped records of `child` that raw does not hold (and have tries left). */
async function findMissing(
  db: Database, child: EntityName, parent: EntityName, field: string, runId: string, fetchIds: number[] | undefined,
): Promise<{ rows: Missing[]; gaveUp: number }> {
  const { rows } = await db.pool.query<Missing & { gave_up: boolean }>(
    `WITH refs AS (
       SELECT DISTINCT ON (pid) pid, qbsync.rr_id(rec) AS child_id
       FROM raw.fetches f
       JOIN raw.page_bodies b ON b.sha256 = f.body_sha256
       CROSS JOIN LATERAL jsonb_array_elements(qbsync.rr_records(f.kind, b.body)) AS rec
       CROSS JOIN LATERAL (SELECT qbsync.rr_id(jsonb_build_object('id', rec -> $3))) AS p(pid)
       WHERE f.entity = $1 AND jsonb_typeof(rec) = 'object'
         AND (CASE WHEN $5::bigint[] IS NULL THEN f.run_id = $4 ELSE f.id = ANY($5::bigint[]) END)
         AND p.pid IS NOT NULL
       ORDER BY pid, child_id
     )
     SELECT refs.pid AS parent_id, refs.child_id, coalesce(l.attempts, 0) AS attempts,
            coalesce(l.status = 'failed' AND l.attempts >= $6, false) AS gave_up
     FROM refs
     LEFT JOIN qbsync.recovery_log l ON l.entity = $2 AND l.record_id = refs.pid
     WHERE NOT EXISTS (SELECT 1 FROM qbsync.raw_records r WHERE r.entity = $2 AND r.id = refs.pid)
     ORDER BY refs.pid`,
    [child, parent, field, runId, fetchIds ?? null, MAX_TRIES],
  );
  return { rows: rows.filter((r) => !r.gave_up), gaveUp: rows.filter((r) => r.gave_up).length };
}

async function logFailure(db: Database, f: RecoveryFailure, runId: string): Promise<void> {
  await db.pool.query(
    `INSERT INTO qbsync.recovery_log (entity, record_id, status, reason, attempts, child_entity, child_id, run_id)
     VALUES ($1, $2, 'failed', $3, 1, $4, $5, $6)
     ON CONFLICT (entity, record_id) DO UPDATE SET status = 'failed', reason = EXCLUDED.reason, attempts = qbsync.recovery_log.attempts + 1,
       child_entity = EXCLUDED.child_entity, child_id = EXCLUDED.child_id, run_id = EXCLUDED.run_id, last_at = now()`,
    [f.entity, f.id, f.reason, f.childEntity, f.childId, runId],
  );
}

export async function recoverParents(opts: RecoveryOptions): Promise<RecoveryResult> {
  const { db, client, logger, runId } = opts;
  const maxParents = opts.maxParents ?? DEFAULT_MAX_PARENTS;
  const scope = opts.fetchIds ? [...opts.fetchIds] : undefined;
  const out: RecoveryResult = { missing: 0, recovered: 0, failed: [], gaveUp: 0, deferred: 0, recoveredByEntity: {} };
  // Links are walked in order; a parent entity recovered here becomes a child to check next (its own parent).
  const active = new Set<EntityName>(opts.children ?? PARENT_LINKS.map(([child]) => child));

  for (const [child, parent, field] of PARENT_LINKS) {
    if (opts.signal?.aborted) break;
    if (!active.has(child)) continue;
    if (scope && scope.length === 0) continue;
    await indexRaw(db.pool, logger);
    const { rows, gaveUp } = await findMissing(db, child, parent, field, runId, scope);
    out.gaveUp += gaveUp;
    if (!rows.length) continue;
    out.missing += rows.length;
    const todo = rows.slice(0, maxParents);
    if (rows.length > todo.length) {
      out.deferred += rows.length - todo.length;
      logger.warn(
        `${rows.length} ${parent} referenced by landed ${child} are not in raw; fetching the first ${todo.length} by id ` +
          `(a sync of ${parent} fetches the rest in bulk: qbsync sync --entity ${parent})`,
        { entity: parent, missing: rows.length },
      );
    }
    const v1 = entityInfo(parent).v1;
    // A few at a time: the client bounds concurrency and the shared rate budget bounds the rate.
    for (let i = 0; i < todo.length; i += 16) {
      if (opts.signal?.aborted) break;
      const group = todo.slice(i, i + 16);
      const results = await Promise.all(
        group.map(async (m) => {
          try {
            const d = await client.getDetail(parent, m.parent_id, { signal: opts.signal });
            return { m, d, reason: d ? null : `unknown_${v1}` };
          } catch (err) {
            if (opts.signal?.aborted) return { m, d: null, reason: null };
            const reason = err instanceof QBenchHttpError ? `detail_http_${err.status}` : `detail_error: ${errorMessage(err)}`;
            return { m, d: null, reason };
          }
        }),
      );
      const found = results.filter((r): r is { m: Missing; d: DetailResult; reason: null } => r.d !== null);
      if (found.length) {
        const events: RawEvent[] = found.map(({ d }) => ({
          runId, entity: parent, kind: 'detail', endpoint: d.path, params: d.params, httpStatus: d.status, recordCount: 1, body: d.body,
          fetchedAt: d.fetchedAt, durationMs: d.durationMs, attempts: d.attempts,
        }));
        const landed = await inTransaction(db.pool, async (c) => {
          const r = await insertEvents(c, events);
          await c.query(
            `INSERT INTO qbsync.recovery_log (entity, record_id, status, reason, attempts, child_entity, child_id, run_id, fetch_id)
             SELECT $1, t.id, 'recovered', NULL, 1, $2, t.child, $3, t.fid
             FROM unnest($4::bigint[], $5::bigint[], $6::bigint[]) AS t(id, child, fid)
             ON CONFLICT (entity, record_id) DO UPDATE SET status = 'recovered', reason = NULL, attempts = qbsync.recovery_log.attempts + 1,
               run_id = EXCLUDED.run_id, fetch_id = EXCLUDED.fetch_id, last_at = now()`,
            [parent, child, runId, found.map((f) => f.m.parent_id), found.map((f) => f.m.child_id), found.map((_, k) => r.fetchIds[k] ?? null)],
          );
          await opts.onLanded?.(c, parent);
          await addCounters(c, runId, parent, { detailFetches: found.length, newBodies: r.newBodies, ...(opts.counter?.take(parent) ?? {}) });
          return r;
        });
        scope?.push(...landed.fetchIds);
        active.add(parent);
        out.recovered += found.length;
        out.recoveredByEntity[parent] = (out.recoveredByEntity[parent] ?? 0) + found.length;
      }
      for (const r of results) {
        if (r.d || !r.reason) continue;
        const f: RecoveryFailure = { entity: parent, id: r.m.parent_id, reason: r.reason, childEntity: child, childId: r.m.child_id };
        out.failed.push(f);
        await logFailure(db, f, runId);
      }
    }
    const failedHere = out.failed.filter((f) => f.entity === parent);
    logger.info(`parent recovery: ${todo.length} missing ${parent} of landed ${child}: ${out.recoveredByEntity[parent] ?? 0} recovered, ${failedHere.length} failed`, {
      entity: parent, child, missing: rows.length, recovered: out.recoveredByEntity[parent] ?? 0, failed: failedHere.length,
    });
    for (const f of failedHere.slice(0, 20)) {
      logger.warn(`could not recover ${parent} ${f.id} (parent of ${child} ${f.childId}): ${f.reason}`, { entity: parent, id: f.id, reason: f.reason });
    }
  }
  // What was recovered, too: raw_records is current when recovery (the end of a sync, of a backfill chunk) returns.
  if (out.recovered) await indexRaw(db.pool, logger);
  return out;
}

/** Recovery failures recorded for a run (for status output and tests). */
export async function recoveryLog(db: Database, runId?: string): Promise<Array<{ entity: string; record_id: number; status: string; reason: string | null; attempts: number; child_entity: string | null; child_id: number | null }>> {
  const { rows } = await db.pool.query(
    `SELECT entity, record_id, status, reason, attempts, child_entity, child_id FROM qbsync.recovery_log
     WHERE $1::uuid IS NULL OR run_id = $1 ORDER BY entity, record_id`,
    [runId ?? null],
  );
  return rows;
}
