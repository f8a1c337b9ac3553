/**
 * Retention of the raw landing: `qbsync raw stats` and `qbsync raw prune`.
 *
 * Prune (keep-latest) deletes the raw events fetched before a date, except
 *   1. per entity and record id, the events carrying its newest version (the greatest QBench `last_updated`,
 *      unreadable counting as oldest, exactly as transform/sql/_incoming.sql ranks them): the first one (the typed
 *      row's `source_fetch_id`) and, for each distinct content of that version, the last event carrying it. The
 *      transform merges the copies of the newest version key by key in fetch order (later wins); a copy with a
 *      later identical copy changes nothing in that merge, so re-fetched unchanged pages (repeated full passes,
 *      the Updates feed's overlap) can go while the merge result, the first fetch and the soft deletes stay;
 *   2. every event a current typed row points at (`source_fetch_id` of every table of schema qbench),
 *   3. every Updates event whose `deleted` ids could still delete a row (a delete fetched after the first event
 *      of that record's newest version: the transform's soft-delete rule),
 *   4. every event the live transforms have not applied yet (id above the target's transform watermark),
 * and then the page bodies no remaining event uses. What is kept is exactly what the transforms read to build
 * today's typed tables, so a replay after a prune gives identical tables (test/ops/raw.test.ts checks it).
 *
 * It runs in one transaction that sets `qbsync.allow_raw_prune = 'on'` locally (the only way past the
 * immutability triggers), holds a SHARE ROW EXCLUSIVE lock on raw.fetches and raw.page_bodies (landings wait,
 * reads go on) and the live schema's transform lock (incremental transforms wait), and refuses to start while a
 * replay runs. A dry run does the same work and rolls back. Counts, never data, are logged and recorded in
 * qbsync.raw_prunes.
 */
import os from 'node:os';
import { QbsyncError, UsageError, type Database, type Logger } from '../core/index.js';
import { TARGETS, LIVE_SCHEMA, NEXT_SCHEMA } from '../transform/index.js';
import { LOCK_CLASS } from '../transform/runner.js';

export interface RawStatsRow {
  entity: string;
  kind: string;
  events: number;
  /** Distinct bodies these events use (a body shared by two groups counts in both). */
  bodies: number;
  /** Bytes of those bodies (canonical JSON). */
  bytes: number;
  oldest: Date | null;
  newest: Date | null;
}

export interface RawStats {
  rows: RawStatsRow[];
  totals: { events: number; bodies: number; bytes: number; oldest: Date | null; newest: Date | null };
  /** On-disk size of raw.fetches and raw.page_bodies with their indexes and TOAST. */
  disk: { fetches: number; page_bodies: number };
  prunes: Array<{ prune_id: number; before_at: Date; fetches_deleted: number; bodies_deleted: number; bytes_freed: number; pruned_at: Date }>;
}

export async function rawStats(db: Database): Promise<RawStats> {
  const q = db.pool;
  const [groups, bytes, totals, bodies, disk, prunes] = await Promise.all([
    q.query<Omit<RawStatsRow, 'bytes'>>(
      `SELECT entity, kind, count(*)::bigint AS events, count(DISTINCT body_sha256)::bigint AS bodies,
              min(fetched_at) AS oldest, max(fetched_at) AS newest
       FROM raw.fetches GROUP BY entity, kind ORDER BY entity, kind`,
    ),
    q.query<{ entity: string; kind: string; bytes: number }>(
      `SELECT d.entity, d.kind, coalesce(sum(b.bytes), 0)::bigint AS bytes
       FROM (SELECT DISTINCT entity, kind, body_sha256 FROM raw.fetches) d JOIN raw.page_bodies b ON b.sha256 = d.body_sha256
       GROUP BY d.entity, d.kind`,
    ),
    q.query<{ events: number; oldest: Date | null; newest: Date | null }>(
      `SELECT count(*)::bigint AS events, min(fetched_at) AS oldest, max(fetched_at) AS newest FROM raw.fetches`,
    ),
    q.query<{ bodies: number; bytes: number }>(`SELECT count(*)::bigint AS bodies, coalesce(sum(bytes), 0)::bigint AS bytes FROM raw.page_bodies`),
    q.query<{ fetches: number; page_bodies: number }>(
      `SELECT pg_total_relation_size('raw.fetches')::bigint AS fetches, pg_total_relation_size('raw.page_bodies')::bigint AS page_bodies`,
    ),
    q.query(`SELECT prune_id, before_at, fetches_deleted, bodies_deleted, bytes_freed, pruned_at FROM qbsync.raw_prunes ORDER BY prune_id DESC LIMIT 5`),
  ]);
  const byKey = new Map(bytes.rows.map((r) => [`${r.entity}/${r.kind}`, Number(r.bytes)]));
  return {
    rows: groups.rows.map((r) => ({ ...r, events: Number(r.events), bodies: Number(r.bodies), bytes: byKey.get(`${r.entity}/${r.kind}`) ?? 0 })),
    totals: { events: Number(totals.rows[0].events), bodies: Number(bodies.rows[0].bodies), bytes: Number(bodies.rows[0].bytes), oldest: totals.rows[0].oldest, newest: totals.rows[0].newest },
    disk: { fetches: Number(disk.rows[0].fetches), page_bodies: Number(disk.rows[0].page_bodies) },
    prunes: prunes.rows,
  };
}

export interface PruneOptions {
  /** Events fetched strictly before this instant are candidates. */
  before: Date;
  /** Do everything, report, and roll back. */
  dryRun?: boolean;
  logger?: Logger;
  /** How long to wait for landings in flight before giving up on the table lock (default 60 s). */
  lockTimeoutMs?: number;
}

export interface PruneEntityRow {
  entity: string;
  kind: string;
  deleted: number;
  kept: number;
}

export interface PruneResult {
  before: string;
  dryRun: boolean;
  /** Events fetched before the date. */
  candidates: number;
  /** Of those, kept because (an event may have several reasons): */
  kept: { newest_version: number; typed_rows: number; deletions: number; not_transformed: number; total: number };
  deleted: { fetches: number; bodies: number; bytes: number };
  byEntity: PruneEntityRow[];
  durationMs: number;
  pruneId?: number;
}

export async function pruneRaw(db: Database, opts: PruneOptions): Promise<PruneResult> {
  const started = Date.now();
  if (Number.isNaN(opts.before.getTime())) throw new UsageError('--before must be a date');
  if (opts.before.getTime() > Date.now()) throw new UsageError(`--before must not be in the future (got ${opts.before.toISOString()})`);
  const log = opts.logger;
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL lock_timeout = '${Math.max(1, Math.round((opts.lockTimeoutMs ?? 60_000) / 1000))}s'`);
    await client.query(`SET LOCAL qbsync.allow_raw_prune = 'on'`);
    const { rows: [r] } = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS ok`, [LOCK_CLASS, NEXT_SCHEMA]);
    if (!r.ok) throw new QbsyncError('a replay is running: prune after it has finished (`qbsync status` shows it)');
    // Incremental transforms of the live schema wait (their watermarks must not move under us); landings wait.
    await client.query(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, [LOCK_CLASS, LIVE_SCHEMA]);
    await client.query(`LOCK TABLE raw.fetches, raw.page_bodies IN SHARE ROW EXCLUSIVE MODE`);
    await client.query(`SET LOCAL lock_timeout = 0`);
    // The derived per-record index of raw (when this database has the incremental indexer) is brought up to date
    // first, so every event is indexed before some go.
    const { rows: [ix] } = await client.query<{ indexer: boolean; events: boolean }>(
      `SELECT to_regprocedure('qbsync.index_raw(bigint)') IS NOT NULL AS indexer, to_regclass('qbsync.raw_record_events') IS NOT NULL AS events`,
    );
    if (ix.indexer) await client.query(`SELECT qbsync.index_raw()`);

    await client.query(
      `CREATE TEMP TABLE prune_candidates ON COMMIT DROP AS
       SELECT id, entity, kind, body_sha256 FROM raw.fetches WHERE fetched_at < $1`,
      [opts.before],
    );
    await client.query(`ALTER TABLE prune_candidates ADD PRIMARY KEY (id)`);
    const { rows: [{ n: candidates }] } = await client.query<{ n: number }>(`SELECT count(*)::bigint AS n FROM prune_candidates`);

    // 1. Every version of every record raw holds (same record extraction, id and last_updated parsing as the transforms).
    // The content hash is of the record as the transform merges it (embedded child lists removed).
    await client.query(`
      CREATE TEMP TABLE prune_versions ON COMMIT DROP AS
      SELECT f.entity, f.id AS fetch_id, qbsync.to_bigint(r.rec ->> 'id') AS rid, qbsync.parse_ts(r.rec ->> 'last_updated') AS lu,
             md5((CASE f.entity WHEN 'samples' THEN r.rec - 'tests' WHEN 'orders' THEN r.rec - 'samples' ELSE r.rec END)::text) AS h
      FROM raw.fetches f
      JOIN raw.page_bodies b ON b.sha256 = f.body_sha256
      CROSS JOIN LATERAL jsonb_array_elements(qbsync.records_of(f.kind, b.body)) AS r(rec)
      WHERE jsonb_typeof(r.rec) = 'object'`);
    await client.query(`
      CREATE TEMP TABLE prune_newest ON COMMIT DROP AS
      SELECT entity, rid, fetch_id, h FROM (
        SELECT entity, rid, fetch_id, h, rank() OVER (PARTITION BY entity, rid ORDER BY lu DESC NULLS LAST) AS rk
        FROM prune_versions WHERE rid IS NOT NULL) x
      WHERE rk = 1`);
    await client.query(`CREATE TEMP TABLE prune_keep (id bigint NOT NULL, reason text NOT NULL) ON COMMIT DROP`);
    await client.query(`
      INSERT INTO prune_keep
      SELECT DISTINCT x.fetch_id, 'newest_version'
      FROM (SELECT fetch_id,
                   row_number() OVER (PARTITION BY entity, rid ORDER BY fetch_id) AS first_rn,
                   row_number() OVER (PARTITION BY entity, rid, h ORDER BY fetch_id DESC) AS last_rn
            FROM prune_newest) x
      JOIN prune_candidates c ON c.id = x.fetch_id
      WHERE x.first_rn = 1 OR x.last_rn = 1`);

    // 2. Events the current typed rows point at.
    const { rows: tables } = await client.query<{ t: string }>(
      `SELECT c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid
       WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attname = 'source_fetch_id' AND NOT a.attisdropped`,
      [LIVE_SCHEMA],
    );
    for (const { t } of tables) {
      await client.query(
        `INSERT INTO prune_keep SELECT DISTINCT t.source_fetch_id, 'typed_rows' FROM ${LIVE_SCHEMA}.${quoteIdent(t)} t JOIN prune_candidates c ON c.id = t.source_fetch_id`,
      );
    }

    // 3. Deletions that can still delete a row: fetched after the first event of the record's newest version.
    await client.query(`
      INSERT INTO prune_keep
      SELECT DISTINCT c.id, 'deletions'
      FROM prune_candidates c
      JOIN raw.page_bodies b ON b.sha256 = c.body_sha256
      CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(b.body -> 'deleted') = 'array' THEN b.body -> 'deleted' ELSE '[]'::jsonb END) AS d(v)
      JOIN (SELECT entity, rid, min(fetch_id) AS first_id FROM prune_newest GROUP BY entity, rid) n
        ON n.entity = c.entity AND n.rid = coalesce(qbsync.to_bigint(d.v #>> '{}'), qbsync.to_bigint(d.v ->> 'id'))
      WHERE c.kind = 'updates' AND c.id > n.first_id`);

    // 4. Events the live transforms have not applied yet (entities with a typed target only).
    await client.query(
      `INSERT INTO prune_keep
       SELECT c.id, 'not_transformed' FROM prune_candidates c
       LEFT JOIN qbsync.transform_watermarks w ON w.schema_name = $1 AND w.target = c.entity
       WHERE c.entity = ANY($2) AND c.id > coalesce(w.last_fetch_id, 0)`,
      [LIVE_SCHEMA, [...TARGETS]],
    );

    const { rows: keptRows } = await client.query<{ reason: string; n: number }>(
      `SELECT reason, count(DISTINCT id)::bigint AS n FROM prune_keep GROUP BY reason`,
    );
    const { rows: [{ n: keptTotal }] } = await client.query<{ n: number }>(`SELECT count(DISTINCT id)::bigint AS n FROM prune_keep`);

    await client.query(`
      CREATE TEMP TABLE prune_delete ON COMMIT DROP AS
      SELECT c.* FROM prune_candidates c WHERE NOT EXISTS (SELECT 1 FROM prune_keep k WHERE k.id = c.id)`);
    const { rows: byEntity } = await client.query<PruneEntityRow>(`
      SELECT c.entity, c.kind, count(*) FILTER (WHERE d.id IS NOT NULL)::bigint AS deleted, count(*) FILTER (WHERE d.id IS NULL)::bigint AS kept
      FROM prune_candidates c LEFT JOIN prune_delete d ON d.id = c.id
      GROUP BY c.entity, c.kind ORDER BY c.entity, c.kind`);

    const del = await client.query(`DELETE FROM raw.fetches f USING prune_delete d WHERE f.id = d.id`);
    // Derived rows naming the deleted events (qbsync.raw_records may keep naming them: its readers left-join).
    if (ix.events) await client.query(`DELETE FROM qbsync.raw_record_events e USING prune_delete d WHERE e.fetch_id = d.id`);
    const { rows: [bodies] } = await client.query<{ n: number; bytes: number }>(`
      WITH gone AS (
        DELETE FROM raw.page_bodies b
        WHERE b.sha256 IN (SELECT DISTINCT body_sha256 FROM prune_delete)
          AND NOT EXISTS (SELECT 1 FROM raw.fetches f WHERE f.body_sha256 = b.sha256)
        RETURNING b.bytes)
      SELECT count(*)::bigint AS n, coalesce(sum(bytes), 0)::bigint AS bytes FROM gone`);

    const kept = { newest_version: 0, typed_rows: 0, deletions: 0, not_transformed: 0, total: Number(keptTotal) };
    for (const k of keptRows) kept[k.reason as keyof typeof kept] = Number(k.n);
    const result: PruneResult = {
      before: opts.before.toISOString(),
      dryRun: !!opts.dryRun,
      candidates: Number(candidates),
      kept,
      deleted: { fetches: del.rowCount ?? 0, bodies: Number(bodies.n), bytes: Number(bodies.bytes) },
      byEntity: byEntity.map((e) => ({ ...e, deleted: Number(e.deleted), kept: Number(e.kept) })),
      durationMs: 0,
    };
    if (opts.dryRun) {
      await client.query('ROLLBACK');
    } else {
      if (result.deleted.fetches > 0) {
        const { rows: [p] } = await client.query<{ prune_id: number }>(
          `INSERT INTO qbsync.raw_prunes (before_at, fetches_deleted, bodies_deleted, bytes_freed, fetches_kept, by_entity, host, duration_ms)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8) RETURNING prune_id`,
          [opts.before, result.deleted.fetches, result.deleted.bodies, result.deleted.bytes, kept.total, JSON.stringify(result.byEntity), os.hostname(), Date.now() - started],
        );
        result.pruneId = p.prune_id;
      }
      await client.query('COMMIT');
    }
    result.durationMs = Date.now() - started;
    log?.info(
      `raw prune${opts.dryRun ? ' (dry run, rolled back)' : ''}: ${result.deleted.fetches} of ${result.candidates} events fetched before ${result.before} ` +
        `${opts.dryRun ? 'would be ' : ''}deleted, ${result.deleted.bodies} bodies (${result.deleted.bytes} bytes); kept ${kept.total}`,
      { prune: { ...result } },
    );
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (err instanceof Error && /lock timeout/i.test(err.message)) {
      throw new QbsyncError('raw prune could not lock raw.fetches within the lock timeout (a long landing or transform holds it); try again later');
    }
    throw err;
  } finally {
    client.release();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
