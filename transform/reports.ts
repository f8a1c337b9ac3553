/**
 * Read-only reports over the typed schema: orphans (rows whose parent is not there), schema drift (payload keys
 * the typed mapping does not know, values that did not parse), checksums of every typed and rollup table, and
 * the transform watermarks.
 */
import type { Database } from '../core/index.js';
import { assertSchemaName } from './runner.js';
import { KNOWN_KEYS, LIVE_SCHEMA, ROLLUPS, TARGETS, type Target } from './targets.js';

export interface Orphan {
  entity: 'tests' | 'samples' | 'orders';
  id: number;
  /** The parent that is missing. */
  missing: 'sample' | 'order' | 'customer';
  /** The parent id the row points at (null when the row has none). */
  parent_id: number | null;
}

export interface OrphanReport {
  counts: { tests_without_sample: number; samples_without_order: number; orders_without_customer: number };
  /** Up to `limit` orphans, tests first, by id. */
  orphans: Orphan[];
  truncated: boolean;
}

/**
 * Rows kept although their parent is not in the typed tables (yet): a test whose sample is missing, a sample
 * without its order, an order without its customer. Deleted rows are not listed.
 */
export async function orphans(db: Database, opts: { limit?: number; schema?: string } = {}): Promise<OrphanReport> {
  const s = assertSchemaName(opts.schema ?? LIVE_SCHEMA);
  const limit = opts.limit ?? 1000;
  const { rows } = await db.pool.query<Orphan & { n: number }>(
    `WITH o AS (
       SELECT 'tests' AS entity, t.id, 'sample' AS missing, t.sample_id AS parent_id, 1 AS k
       FROM ${s}.tests t WHERE NOT t.deleted AND NOT EXISTS (SELECT 1 FROM ${s}.samples p WHERE p.id = t.sample_id)
       UNION ALL
       SELECT 'samples', x.id, 'order', x.order_id, 2
       FROM ${s}.samples x WHERE NOT x.deleted AND NOT EXISTS (SELECT 1 FROM ${s}.orders p WHERE p.id = x.order_id)
       UNION ALL
       SELECT 'orders', x.id, 'customer', x.customer_id, 3
       FROM ${s}.orders x WHERE NOT x.deleted AND NOT EXISTS (SELECT 1 FROM ${s}.customers p WHERE p.id = x.customer_id)
     )
     SELECT entity, id, missing, parent_id, count(*) OVER (PARTITION BY entity)::int AS n FROM o ORDER BY k, id`,
  );
  const count = (e: string) => rows.find((r) => r.entity === e)?.n ?? 0;
  return {
    counts: { tests_without_sample: count('tests'), samples_without_order: count('samples'), orders_without_customer: count('orders') },
    orphans: rows.slice(0, limit).map(({ entity, id, missing, parent_id }) => ({ entity, id: Number(id), missing, parent_id: parent_id === null ? null : Number(parent_id) })),
    truncated: rows.length > limit,
  };
}

export interface DriftKey {
  key: string;
  /** Rows whose payload has the key. */
  rows: number;
  example_id: number;
  example_value: unknown;
}

export interface ParseErrorSummary {
  field: string;
  rows: number;
  example_id: number;
  example: { value: unknown; error: string };
}

export interface DriftEntity {
  entity: Target;
  rows: number;
  /** Payload keys the typed mapping does not know (see KNOWN_KEYS in transform/targets.ts). */
  unknown_keys: DriftKey[];
  /** Fields whose value did not parse (kept NULL; raw value in parse_errors). */
  parse_errors: ParseErrorSummary[];
  /** Raw records that could not be keyed (no usable id); only with `scanRaw`. */
  records_without_id?: number;
}

/** Schema drift per entity. `scanRaw` also counts unkeyable records in raw (a full read of raw). */
export async function drift(db: Database, opts: { schema?: string; scanRaw?: boolean } = {}): Promise<DriftEntity[]> {
  const s = assertSchemaName(opts.schema ?? LIVE_SCHEMA);
  const out: DriftEntity[] = [];
  let unkeyed = new Map<string, number>();
  if (opts.scanRaw) {
    const { rows } = await db.pool.query<{ entity: string; n: number }>(
      `SELECT f.entity, count(*)::int AS n
       FROM raw.fetches f JOIN raw.page_bodies b ON b.sha256 = f.body_sha256,
            LATERAL jsonb_array_elements(qbsync.records_of(f.kind, b.body)) AS r(rec)
       WHERE jsonb_typeof(r.rec) = 'object' AND qbsync.to_bigint(r.rec ->> 'id') IS NULL
       GROUP BY f.entity`,
    );
    unkeyed = new Map(rows.map((r) => [r.entity, r.n]));
  }
  for (const entity of TARGETS) {
    const known = KNOWN_KEYS[entity];
    const exact = known.filter((k) => !k.endsWith('*'));
    const prefixes = known.filter((k) => k.endsWith('*')).map((k) => `${k.slice(0, -1).replace(/[\\%_]/g, '\\$&')}%`);
    const [{ n }] = (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s}.${entity}`)).rows;
    // Counts and the first row per key, then that row's value (no aggregate of every value: a key new in
    // QBench may be on every row).
    const keys = await db.pool.query<DriftKey>(
      `WITH k AS (
         SELECT k.key, count(*)::int AS rows, min(t.id) AS example_id
         FROM ${s}.${entity} t, LATERAL jsonb_object_keys(t.payload) AS k(key)
         WHERE k.key <> ALL($1::text[]) AND NOT k.key LIKE ANY($2::text[])
         GROUP BY k.key)
       SELECT k.key, k.rows, k.example_id, (SELECT t.payload -> k.key FROM ${s}.${entity} t WHERE t.id = k.example_id) AS example_value
       FROM k ORDER BY k.rows DESC, k.key`,
      [exact, prefixes],
    );
    const errors = await db.pool.query<ParseErrorSummary>(
      `WITH e AS (
         SELECT e.key, count(*)::int AS rows, min(t.id) AS example_id
         FROM ${s}.${entity} t, LATERAL jsonb_object_keys(t.parse_errors) AS e(key)
         WHERE t.parse_errors IS NOT NULL
         GROUP BY e.key)
       SELECT e.key AS field, e.rows, e.example_id, (SELECT t.parse_errors -> e.key FROM ${s}.${entity} t WHERE t.id = e.example_id) AS example
       FROM e ORDER BY e.rows DESC, e.key`,
    );
    out.push({
      entity,
      rows: n,
      unknown_keys: keys.rows.map((r) => ({ ...r, example_id: Number(r.example_id) })),
      parse_errors: errors.rows.map((r) => ({ ...r, example_id: Number(r.example_id) })),
      ...(opts.scanRaw ? { records_without_id: unkeyed.get(entity) ?? 0 } : {}),
    });
  }
  return out;
}

export interface TableChecksum {
  rows: number;
  /** md5 over the md5 of every row's text, in key order (every column, payload included). */
  md5: string;
}

const ROLLUP_ORDER = {
  rollup_samples_daily: 'day, customer_id, sample_type, state, matrix_type',
  rollup_tests_created: 'day, label_abbr, customer_id, sample_type, state',
  rollup_tests_reported: 'day, label_abbr, customer_id, sample_type, state',
  rollup_samples_lab: 'day, state, matrix_type',
  rollup_tests_created_lab: 'day, label_abbr, state',
  rollup_tests_reported_lab: 'day, sample_type, state',
  rollup_tat_created: 'span, day, label_abbr, part',
  rollup_tat_reported: 'span, day, state, part',
  rollup_customers_daily: 'day, customer_id',
} as const;

/**
 * Checksums of every typed and rollup table: equal checksums mean equal tables, row for row.
 * `exclude` leaves columns out (e.g. `source_fetch_id` and `deleted_at`, which name raw fetches and their times,
 * to compare the tables of two databases that landed the same data through different fetches); with it each
 * row is hashed as its jsonb minus those columns, so such checksums only compare with each other.
 */
export async function tableChecksums(db: Database, opts: { schema?: string; exclude?: readonly string[] } = {}): Promise<Record<string, TableChecksum>> {
  const s = assertSchemaName(opts.schema ?? LIVE_SCHEMA);
  const out: Record<string, TableChecksum> = {};
  const tables: Array<[string, string]> = [...TARGETS.map((t) => [t, 'id'] as [string, string]), ...ROLLUPS.map((r) => [r, ROLLUP_ORDER[r]] as [string, string])];
  const rowText = opts.exclude?.length ? '(to_jsonb(t) - $1::text[])::text' : 't::text';
  for (const [table, order] of tables) {
    const { rows } = await db.pool.query<{ rows: number; md5: string }>(
      `SELECT count(*)::int AS rows, md5(coalesce(string_agg(md5(${rowText}), '' ORDER BY ${order
        .split(', ')
        .map((c) => `t.${c} NULLS FIRST`)
        .join(', ')}), '')) AS md5
       FROM ${s}.${table} t`,
      opts.exclude?.length ? [[...opts.exclude]] : [],
    );
    out[table] = rows[0];
  }
  return out;
}

export interface WatermarkRow {
  schema_name: string;
  target: string;
  last_fetch_id: number;
  updated_at: Date;
  last_stats: unknown;
}

/** The transform watermarks (per schema and target) and how far raw has got. */
export async function transformStatus(db: Database): Promise<{ watermarks: WatermarkRow[]; rawMaxFetchId: number; timezone: string | null }> {
  const { rows } = await db.pool.query<WatermarkRow>(
    `SELECT schema_name, target, last_fetch_id, updated_at, last_stats FROM qbsync.transform_watermarks ORDER BY schema_name, target`,
  );
  const [{ max }] = (await db.pool.query<{ max: number }>(`SELECT coalesce(max(id), 0)::bigint AS max FROM raw.fetches`)).rows;
  const tz = await db.pool.query<{ timezone: string }>(`SELECT timezone FROM qbsync.transform_schemas WHERE schema_name = $1`, [LIVE_SCHEMA]);
  return { watermarks: rows.map((r) => ({ ...r, last_fetch_id: Number(r.last_fetch_id) })), rawMaxFetchId: Number(max), timezone: tz.rows[0]?.timezone ?? null };
}
