/**
 * Single records from the typed tables (by primary key; children through their indexed parent columns), and
 * a record's raw history: every landed event that carried it (raw.fetches ⋈ raw.page_bodies), oldest first, with
 * what changed between consecutive versions. The events are found through qbsync.raw_record_events (the per-record
 * index of raw, up to its high-water mark in qbsync.raw_index_state) plus the entity's events above the mark,
 * read directly; one statement, so the mark and the index are read at the same instant. The API never writes
 * the index: the worker's transform jobs keep the unindexed tail short.
 */
import type pg from 'pg';

type Row = Record<string, any>;

const COLUMNS = {
  customers: `id, customer_name, account_number, license_number, email, date_created, last_updated, deleted, deleted_at, source_fetch_id, parse_errors, payload`,
  orders: `id, customer_id, custom_formatted_id, state, date_created, date_received, date_completed, date_order_reported, date_required,
           collected_date, sample_count, test_count, has_report, partially_complete, report_emailed, last_updated, deleted, deleted_at,
           source_fetch_id, parse_errors, payload`,
  samples: `id, order_id, custom_formatted_id, sample_name, state, sample_type, matrix_type, has_report, batch_ids, test_count, date_created,
            start_date, completed_date, sample_weight, leaf_id, last_updated, deleted, deleted_at, source_fetch_id, parse_errors, payload`,
  tests: `id, sample_id, assay_id, label_abbr, title, state, has_report, report_completed_date, batch_ids, date_created, start_date,
          complete_date, estimated_start_date, estimated_complete_date, tech_id, results, tat_hours, last_updated, deleted, deleted_at,
          source_fetch_id, parse_errors, payload`,
  batches: `id, assay_id, display_name, batch_status, batch_complete, batch_processed, sample_ids, test_ids, date_created, date_prepared,
            last_updated, deleted, deleted_at, source_fetch_id, parse_errors, payload`,
  assays: `id, label_abbr, title, duration, default_technician_id, date_created, last_updated, deleted, deleted_at, source_fetch_id, parse_errors, payload`,
  reports: `id, order_id, sample_id, test_id, state, render_status, is_public, emailed, test_ids, date_generated, date_published, date_public,
            date_emailed, last_updated, deleted, deleted_at, source_fetch_id, parse_errors, payload`,
} as const;

export type EntityKind = keyof typeof COLUMNS;
export const ENTITY_KINDS = Object.keys(COLUMNS) as EntityKind[];

/** Columns without the payload (for lists of children). */
const brief = (kind: EntityKind) => COLUMNS[kind].replace(/,\s*payload$/, '');

export async function getRow(pool: pg.Pool, kind: EntityKind, id: number, withPayload = true): Promise<Row | undefined> {
  const { rows } = await pool.query(`SELECT ${withPayload ? COLUMNS[kind] : brief(kind)} FROM qbench.${kind} WHERE id = $1`, [id]);
  return rows[0];
}

export async function childrenOf(pool: pg.Pool, kind: 'samples' | 'tests' | 'orders' | 'reports', parentCol: string, ids: number[]): Promise<Row[]> {
  if (!ids.length) return [];
  // parentCol is one of our fixed column names, never user input.
  const { rows } = await pool.query(`SELECT ${brief(kind)} FROM qbench.${kind} WHERE ${parentCol} = ANY($1::bigint[]) ORDER BY id`, [ids]);
  return rows;
}

export async function rowsByIds(pool: pg.Pool, kind: 'batches' | 'tests' | 'samples', ids: number[] | null | undefined): Promise<Row[]> {
  if (!ids?.length) return [];
  const { rows } = await pool.query(`SELECT ${brief(kind)} FROM qbench.${kind} WHERE id = ANY($1::bigint[]) ORDER BY id`, [ids]);
  return rows;
}

export async function batchesOfTest(pool: pg.Pool, testId: number, batchIds: number[] | null): Promise<Row[]> {
  const { rows } = await pool.query(
    `SELECT ${brief('batches')} FROM qbench.batches WHERE id = ANY($1::bigint[]) OR test_ids @> ARRAY[$2::bigint] ORDER BY id`,
    [batchIds ?? [], testId],
  );
  return rows;
}

export async function customerStats(pool: pg.Pool, id: number): Promise<Row> {
  const { rows } = await pool.query(
    `SELECT count(*)::int AS orders, count(*) FILTER (WHERE state IS DISTINCT FROM 'REPORTED')::int AS open_orders,
            min(date_created) AS first_order_at, max(date_created) AS last_order_at
     FROM qbench.orders WHERE customer_id = $1 AND NOT deleted`,
    [id],
  );
  return rows[0];
}

export async function recentOrders(pool: pg.Pool, customerId: number, limit: number): Promise<Row[]> {
  const { rows } = await pool.query(
    `SELECT ${brief('orders')} FROM qbench.orders WHERE customer_id = $1 ORDER BY date_created DESC NULLS LAST, id DESC LIMIT $2`,
    [customerId, limit],
  );
  return rows;
}

export interface HistoryEvent {
  fetch_id: number;
  run_id: string;
  fetch_kind: string;
  endpoint: string;
  page_number: number | null;
  fetched_at: Date;
  record: Record<string, unknown>;
}

/**
 * Events of `kind` that may carry record `id`, with fetch id in ($lo, $hi]: the indexed ones from raw_record_events,
 * every event of the entity above the index's mark (not indexed yet). $1 kind, $2 id.
 */
const CANDIDATES = (lo: string, hi: string) => `
  WITH st AS (SELECT coalesce((SELECT last_fetch_id FROM qbsync.raw_index_state), 0) AS mark)
  SELECT e.fetch_id FROM qbsync.raw_record_events e, st
  WHERE e.entity = $1 AND e.id = $2 AND e.fetch_id > ${lo} AND e.fetch_id <= least(st.mark, ${hi})
  UNION ALL
  SELECT f.id FROM raw.fetches f, st
  WHERE f.entity = $1 AND f.id > greatest(st.mark, ${lo}) AND f.id <= ${hi}`;

/** Every event that carried record `id` of `kind`, oldest first (at most `limit`, after `afterFetch`). */
export async function recordHistory(pool: pg.Pool, kind: EntityKind, id: number, limit: number, afterFetch: number): Promise<HistoryEvent[]> {
  const { rows } = await pool.query<HistoryEvent>(
    `SELECT f.id AS fetch_id, f.run_id, f.kind AS fetch_kind, f.endpoint, f.page_number, f.fetched_at, rec AS record
     FROM (${CANDIDATES('$4', '9223372036854775807')}) c
     JOIN raw.fetches f ON f.id = c.fetch_id
     JOIN raw.page_bodies b ON b.sha256 = f.body_sha256
     CROSS JOIN LATERAL jsonb_array_elements(qbsync.records_of(f.kind, b.body)) rec
     WHERE rec ->> 'id' = $2::text
     ORDER BY f.id
     LIMIT $3`,
    [kind, id, limit, afterFetch],
  );
  return rows;
}

/** The event just before `fetchId` that carried the record (to diff the first event of a later page against). */
export async function previousVersion(pool: pg.Pool, kind: EntityKind, id: number, fetchId: number): Promise<Record<string, unknown> | undefined> {
  const { rows } = await pool.query<{ record: Record<string, unknown> }>(
    `SELECT rec AS record
     FROM (${CANDIDATES('0', '$3')}) c
     JOIN raw.fetches f ON f.id = c.fetch_id
     JOIN raw.page_bodies b ON b.sha256 = f.body_sha256
     CROSS JOIN LATERAL jsonb_array_elements(qbsync.records_of(f.kind, b.body)) rec
     WHERE rec ->> 'id' = $2::text
     ORDER BY f.id DESC LIMIT 1`,
    [kind, id, fetchId],
  );
  return rows[0]?.record;
}

export interface Change {
  key: string;
  change: 'added' | 'removed' | 'changed';
  old: unknown;
  new: unknown;
}

const canonical = (v: unknown): string => JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));

/** Top-level keys that differ between two versions of a record. */
export function diffRecords(prev: Record<string, unknown>, next: Record<string, unknown>): Change[] {
  const keys = [...new Set([...Object.keys(prev), ...Object.keys(next)])].sort();
  const out: Change[] = [];
  for (const key of keys) {
    const a = key in prev;
    const b = key in next;
    if (a && !b) out.push({ key, change: 'removed', old: prev[key], new: null });
    else if (!a && b) out.push({ key, change: 'added', old: null, new: next[key] });
    else if (canonical(prev[key]) !== canonical(next[key])) out.push({ key, change: 'changed', old: prev[key], new: next[key] });
  }
  return out;
}
