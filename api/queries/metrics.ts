/**
 * The downloader-compatible metric queries (qbench-api.md §7), named and parameterised.
 *
 * Rollups first (transform/README.md lists them). Without a customer filter the lab-wide layers answer
 * (rollup_samples_lab, rollup_tests_created_lab / _reported_lab for counts and sums, rollup_tat_created /
 * _reported for the sorted TAT values: SLA splits by width_bucket, exact medians and p95 by tat-rank.ts); with
 * customer_id the per-customer rollups (rollup_samples_daily, rollup_tests_created / _reported) read that
 * customer's rows through their (customer_id, day) indexes. Rollups answer when
 *   - the range is day aligned (both ends lab midnight or open: see range.ts),
 *   - the filters are among customer_id and state, and
 *   - the rollups were built in the API's timezone (qbsync.transform_schemas).
 * Otherwise (order_id, batch_id, a range with a time of day, a timezone mismatch) the same numbers come from the
 * typed rows (qbench.tests / samples / orders / customers). Each function says which it uses.
 * Deleted rows are never counted (the rollups exclude them too). Days and weeks are lab-local.
 */
import type pg from 'pg';
import { Sql, where, type Range } from './range.js';
import { kthValues } from './tat-rank.js';

export interface Ctx {
  pool: pg.Pool;
  tz: string;
  /** The rollups count days in the API's timezone. */
  rollups: boolean;
}

export interface Filters {
  customerId?: number;
  orderId?: number;
  state?: string;
  batchId?: number;
}

/** The three sample types whose tests make the summary's average TAT (downloader commit 61ac24b). */
export const TAT_SAMPLE_TYPES = ['Adult Use', 'AU Cliente R&D', 'Medical MJ'];
/** The 16 labels tests/label-distribution always lists. */
export const LABELS = ['CN', 'MB', 'TP', 'MY', 'HM', 'FFM', 'HO', 'HLVd', 'MC', 'PS', 'PN', 'RS', 'ST', 'SP', 'WA', 'YM'];
export const TAT_BUCKETS: Array<[string, number, number | null]> = [
  ['0-24h', 0, 24], ['24-48h', 24, 48], ['48-72h', 48, 72], ['72-168h', 72, 168], ['>168h', 168, null],
];

const num = (v: unknown): number => (v == null ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v == null ? null : Number(v));

let tzCache: { at: number; tz: string | null } | undefined;
/** The timezone the live rollups were built in (cached 5 s). */
export async function rollupTimezone(pool: pg.Pool): Promise<string | null> {
  if (tzCache && Date.now() - tzCache.at < 5000) return tzCache.tz;
  const { rows } = await pool.query<{ timezone: string }>(`SELECT timezone FROM qbsync.transform_schemas WHERE schema_name = 'qbench'`);
  tzCache = { at: Date.now(), tz: rows[0]?.timezone ?? null };
  return tzCache.tz;
}
export function resetRollupTimezoneCache(): void {
  tzCache = undefined;
}

// ------------------------------------------------------------------------------------------------ scopes

/** FROM + WHERE over typed tests: the downloader's test filters on the given date column. */
function testScope(sql: Sql, f: Filters, r: Range | null, dateCol: 'date_created' | 'report_completed_date', o: { reported?: boolean; sampleTypes?: string[]; forceState?: string } = {}) {
  const conds = ['NOT t.deleted'];
  let joinSample = false;
  let joinOrder = false;
  if (r) conds.push(...sql.range(`t.${dateCol}`, r));
  if (o.reported) conds.push('t.report_completed_date IS NOT NULL');
  if (f.customerId != null) {
    joinSample = joinOrder = true;
    conds.push(`o.customer_id = ${sql.p(f.customerId)}`);
  }
  if (f.orderId != null) {
    joinSample = true;
    conds.push(`s.order_id = ${sql.p(f.orderId)}`);
  }
  const state = o.forceState ?? f.state;
  if (state) conds.push(`t.state = ${sql.p(state)}`);
  if (f.batchId != null) conds.push(`t.batch_ids @> ARRAY[${sql.p(f.batchId)}::bigint]`);
  if (o.sampleTypes) {
    joinSample = true;
    conds.push(`s.sample_type = ANY(${sql.p(o.sampleTypes)}::text[])`);
  }
  const from = `qbench.tests t${joinSample ? ' JOIN qbench.samples s ON s.id = t.sample_id' : ''}${joinOrder ? ' JOIN qbench.orders o ON o.id = s.order_id' : ''}`;
  return { from, where: where(conds) };
}

/** FROM + WHERE over typed samples (date_created), with customer/order/state filters. */
function sampleScope(sql: Sql, f: Filters, r: Range | null) {
  const conds = ['NOT s.deleted', ...(r ? sql.range('s.date_created', r) : [])];
  let joinOrder = false;
  if (f.customerId != null) {
    joinOrder = true;
    conds.push(`o.customer_id = ${sql.p(f.customerId)}`);
  }
  if (f.orderId != null) conds.push(`s.order_id = ${sql.p(f.orderId)}`);
  if (f.state) conds.push(`s.state = ${sql.p(f.state)}`);
  return { from: `qbench.samples s${joinOrder ? ' JOIN qbench.orders o ON o.id = s.order_id' : ''}`, where: where(conds) };
}

/** WHERE over a rollup table (aligned range, customer, state, sample types, labels; nonEmpty: rows with TAT values). */
function rollupWhere(sql: Sql, f: Filters, r: Range | null, o: { sampleTypes?: string[]; labels?: string[]; forceState?: string; nonEmpty?: boolean } = {}) {
  const conds = r ? sql.days('day', r) : [];
  if (o.nonEmpty) conds.push('cardinality(tat_hours) > 0');
  if (f.customerId != null) conds.push(`customer_id = ${sql.p(f.customerId)}`);
  const state = o.forceState ?? f.state;
  if (state) conds.push(`state = ${sql.p(state)}`);
  if (o.sampleTypes) conds.push(`sample_type = ANY(${sql.p(o.sampleTypes)}::text[])`);
  if (o.labels) conds.push(`label_abbr = ANY(${sql.p(o.labels)}::text[])`);
  return where(conds);
}

const canRollup = (ctx: Ctx, r: Range | null, f: Filters) =>
  ctx.rollups && (!r || r.aligned) && f.orderId == null && f.batchId == null;

/** The rollup a filter set reads: the lab-wide layer, or the per-customer one when a customer is asked for. */
const samplesTable = (f: Filters) => (f.customerId != null ? 'qbench.rollup_samples_daily' : 'qbench.rollup_samples_lab');
const createdTable = (f: Filters) => (f.customerId != null ? 'qbench.rollup_tests_created' : 'qbench.rollup_tests_created_lab');
const reportedTable = (f: Filters) => (f.customerId != null ? 'qbench.rollup_tests_reported' : 'qbench.rollup_tests_reported_lab');

// ------------------------------------------------------------------------------------------------ TAT value sources

const isoDay = (d: Date) => d.toISOString().slice(0, 10);
const utcDay = (day: string) => new Date(`${day}T00:00:00Z`);
const firstOfMonth = (day: string) => `${day.slice(0, 7)}-01`;
const firstOfNextMonth = (day: string): string => {
  const d = utcDay(firstOfMonth(day));
  d.setUTCMonth(d.getUTCMonth() + 1);
  return isoDay(d);
};
const dayBefore = (day: string) => isoDay(new Date(utcDay(day).getTime() - 86_400_000));

/**
 * Whole days [fromDay, toDay] (either open) as the calendar months they contain whole ([start, end), either open)
 * plus the days left at each end, so a year reads ~12 month groups of rollup_tat_* and at most ~60 day groups.
 */
export function monthSplit(fromDay: string | null, toDay: string | null): { months: [string | null, string | null] | null; days: Array<[string | null, string | null]> } {
  const mStart = fromDay == null ? null : fromDay.endsWith('-01') ? fromDay : firstOfNextMonth(fromDay);
  const after = toDay == null ? null : isoDay(new Date(utcDay(toDay).getTime() + 86_400_000));
  const mEnd = after == null ? null : after.endsWith('-01') ? after : firstOfMonth(toDay!);
  if (mStart != null && mEnd != null && mStart >= mEnd) return { months: null, days: [[fromDay, toDay]] };
  const days: Array<[string | null, string | null]> = [];
  if (fromDay != null && mStart != null && fromDay < mStart) days.push([fromDay, dayBefore(mStart)]);
  if (toDay != null && mEnd != null && mEnd <= toDay) days.push([mEnd, toDay]);
  return { months: [mStart, mEnd], days };
}

type TatBasis = 'created' | 'reported';

/**
 * A SQL source of sorted TAT arrays (columns day, label, arr, vsum: the sum of arr) for the tests created (basis 'created') or reported in range.
 * The lab-wide rollup_tat_* when it has the filters (created: no customer, no state; reported: no customer, no
 * sample types), read by month and end days (`byMonth`) or by day; the per-customer rollup otherwise.
 */
function tatSource(sql: Sql, f: Filters, r: Range | null, basis: TatBasis, o: { sampleTypes?: string[]; forceState?: string; byMonth?: boolean } = {}): string {
  const state = o.forceState ?? f.state;
  const label = basis === 'created' ? `coalesce(label_abbr, 'unknown')` : `''::text`;
  const lab = f.customerId == null && (basis === 'created' ? !state : !o.sampleTypes);
  if (!lab) {
    const table = basis === 'created' ? 'qbench.rollup_tests_created' : 'qbench.rollup_tests_reported';
    return `SELECT day, ${label} AS label, tat_hours AS arr, tat_sum AS vsum FROM ${table} ${rollupWhere(sql, f, r, { sampleTypes: o.sampleTypes, forceState: o.forceState, nonEmpty: true })}`;
  }
  const table = basis === 'created' ? 'qbench.rollup_tat_created' : 'qbench.rollup_tat_reported';
  const stateCond = basis === 'reported' && state ? [`state = ${sql.p(state)}`] : [];
  const select = (span: 'D' | 'M', lo: string | null, hi: string | null, hiExclusive: boolean) => {
    const conds = [`span = '${span}'`, ...stateCond];
    if (lo != null) conds.push(`day >= ${sql.p(lo)}::date`);
    if (hi != null) conds.push(`day ${hiExclusive ? '<' : '<='} ${sql.p(hi)}::date`);
    return `SELECT day, ${label} AS label, tat_hours AS arr, tat_sum AS vsum FROM ${table} ${where(conds)}`;
  };
  if (!o.byMonth) return select('D', r?.fromDay ?? null, r?.toDay ?? null, false);
  const split = monthSplit(r?.fromDay ?? null, r?.toDay ?? null);
  const parts = [
    ...(split.months ? [select('M', split.months[0], split.months[1], true)] : []),
    ...split.days.map(([lo, hi]) => select('D', lo, hi, false)),
  ];
  return parts.join('\nUNION ALL\n');
}

/** Lab day of a timestamp column, as text (YYYY-MM-DD). */
const labDay = (sql: Sql, ctx: Ctx, col: string) => `((${col}) AT TIME ZONE ${sql.p(ctx.tz)})::date`;

async function one<T = Record<string, unknown>>(ctx: Ctx, sql: Sql, text: string): Promise<T> {
  const { rows } = await ctx.pool.query(text, sql.params);
  return rows[0] as T;
}
async function many<T = Record<string, unknown>>(ctx: Ctx, sql: Sql, text: string): Promise<T[]> {
  const { rows } = await ctx.pool.query(text, sql.params);
  return rows as T[];
}

// ------------------------------------------------------------------------------------------------ counts

/** Samples created in range. Rollup (rollup_samples_lab / _daily) unless order_id/unaligned. */
export async function countSamplesCreated(ctx: Ctx, f: Filters, r: Range | null): Promise<number> {
  const sql = new Sql();
  if (canRollup(ctx, r, f)) {
    return num((await one(ctx, sql, `SELECT sum(samples_created)::bigint AS n FROM ${samplesTable(f)} ${rollupWhere(sql, f, r)}`)).n);
  }
  const s = sampleScope(sql, f, r);
  return num((await one(ctx, sql, `SELECT count(*)::bigint AS n FROM ${s.from} ${s.where}`)).n);
}

/** Tests created in range. Rollup (rollup_tests_created_lab / _created) unless order_id/batch_id/unaligned. */
export async function countTestsCreated(ctx: Ctx, f: Filters, r: Range | null): Promise<number> {
  const sql = new Sql();
  if (canRollup(ctx, r, f)) {
    return num((await one(ctx, sql, `SELECT sum(tests_created)::bigint AS n FROM ${createdTable(f)} ${rollupWhere(sql, f, r)}`)).n);
  }
  const s = testScope(sql, f, r, 'date_created');
  return num((await one(ctx, sql, `SELECT count(*)::bigint AS n FROM ${s.from} ${s.where}`)).n);
}

export interface ReportedStats {
  reported: number;
  /** Reported tests that have a TAT (date_created known). */
  withTat: number;
  within: number;
  beyond: number;
  average: number | null;
}

/**
 * Tests reported (report_completed_date) in range: count, TAT mean, within/beyond an SLA. Rollup (counts and sums
 * from rollup_tests_reported_lab, the within count by width_bucket over rollup_tat_reported's sorted arrays; the
 * per-customer rollup with customer_id) unless order_id/batch_id/unaligned.
 */
export async function reportedStats(ctx: Ctx, f: Filters, r: Range | null, slaHours: number, o: { sampleTypes?: string[]; forceState?: string; within?: boolean } = {}): Promise<ReportedStats> {
  const sql = new Sql();
  let row: Record<string, unknown>;
  if (canRollup(ctx, r, f)) {
    const w = rollupWhere(sql, f, r, o);
    // The within count reads the TAT arrays; a caller that only wants counts and the mean skips it.
    const within = o.within === false ? 'NULL::bigint' : `(SELECT sum(width_bucket(${sql.p(slaHours)}::float8, s.arr))::bigint FROM (${tatSource(sql, f, r, 'reported', { ...o, byMonth: true })}) s)`;
    row = await one(ctx, sql, `SELECT sum(tests_reported)::bigint AS reported, sum(tat_count)::bigint AS with_tat,
        sum(tat_sum) / nullif(sum(tat_count), 0) AS average, ${within} AS within
      FROM ${reportedTable(f)} ${w}`);
  } else {
    const slaP = sql.p(slaHours);
    const s = testScope(sql, f, r, 'report_completed_date', { reported: true, sampleTypes: o.sampleTypes, forceState: o.forceState });
    row = await one(ctx, sql, `SELECT count(*)::bigint AS reported, count(t.tat_hours)::bigint AS with_tat,
        count(*) FILTER (WHERE t.tat_hours <= ${slaP}::float8)::bigint AS within, avg(t.tat_hours) AS average
      FROM ${s.from} ${s.where}`);
  }
  const withTat = num(row.with_tat);
  const within = num(row.within);
  return { reported: num(row.reported), withTat, within, beyond: withTat - within, average: numOrNull(row.average) };
}

/** Customers created in range (typed table: small). */
export async function countCustomers(ctx: Ctx, customerId: number | undefined, r: Range | null): Promise<number> {
  const sql = new Sql();
  const conds = ['NOT c.deleted', ...(r ? sql.range('c.date_created', r) : [])];
  if (customerId != null) conds.push(`c.id = ${sql.p(customerId)}`);
  return num((await one(ctx, sql, `SELECT count(*)::bigint AS n FROM qbench.customers c ${where(conds)}`)).n);
}

/** When the tests data was last refreshed: fetched_at of the newest landed test event already transformed. */
export async function lastUpdatedAt(ctx: Ctx): Promise<Date | null> {
  const { rows } = await ctx.pool.query<{ at: Date }>(
    `SELECT f.fetched_at AS at FROM raw.fetches f
     WHERE f.entity = 'tests'
       AND f.id <= coalesce((SELECT last_fetch_id FROM qbsync.transform_watermarks WHERE schema_name = 'qbench' AND target = 'tests'), 0)
     ORDER BY f.id DESC LIMIT 1`,
  );
  return rows[0]?.at ?? null;
}

// ------------------------------------------------------------------------------------------------ daily

export interface DayCount {
  date: string;
  n: number;
}

/** Samples created per lab day. Rollup unless order_id/unaligned. */
export async function dailySamples(ctx: Ctx, f: Filters, r: Range | null): Promise<Map<string, number>> {
  const sql = new Sql();
  let rows: Array<{ d: string; n: number }>;
  if (canRollup(ctx, r, f)) {
    rows = await many(ctx, sql, `SELECT day::text AS d, sum(samples_created)::bigint AS n FROM ${samplesTable(f)} ${rollupWhere(sql, f, r)} GROUP BY day`);
  } else {
    const s = sampleScope(sql, f, r);
    rows = await many(ctx, sql, `SELECT ${labDay(sql, ctx, 's.date_created')}::text AS d, count(*)::bigint AS n FROM ${s.from} ${s.where} AND s.date_created IS NOT NULL GROUP BY 1`);
  }
  return new Map(rows.map((x) => [x.d, num(x.n)]));
}

/** Tests created (or reported) per lab day. Rollup unless order_id/batch_id/unaligned. */
export async function dailyTests(ctx: Ctx, f: Filters, r: Range | null, kind: 'created' | 'reported'): Promise<Map<string, number>> {
  const sql = new Sql();
  let rows: Array<{ d: string; n: number }>;
  if (canRollup(ctx, r, f)) {
    const table = kind === 'created' ? createdTable(f) : reportedTable(f);
    const col = kind === 'created' ? 'tests_created' : 'tests_reported';
    rows = await many(ctx, sql, `SELECT day::text AS d, sum(${col})::bigint AS n FROM ${table} ${rollupWhere(sql, f, r)} GROUP BY day`);
  } else {
    const col = kind === 'created' ? 't.date_created' : 't.report_completed_date';
    const s = testScope(sql, f, r, kind === 'created' ? 'date_created' : 'report_completed_date', { reported: kind === 'reported' });
    rows = await many(ctx, sql, `SELECT ${labDay(sql, ctx, col)}::text AS d, count(*)::bigint AS n FROM ${s.from} ${s.where} AND ${col} IS NOT NULL GROUP BY 1`);
  }
  return new Map(rows.map((x) => [x.d, num(x.n)]));
}

export interface TatDay {
  date: string;
  average_hours: number | null;
  within_sla: number;
  beyond_sla: number;
}

/** Per completion day: mean TAT, within/beyond SLA. Rollup (sums + width_bucket) unless order_id/batch_id/unaligned. */
export async function tatDaily(ctx: Ctx, f: Filters, r: Range | null, slaHours: number): Promise<TatDay[]> {
  const sql = new Sql();
  let rows: Array<Record<string, unknown>>;
  if (canRollup(ctx, r, f)) {
    const w = rollupWhere(sql, f, r);
    const slaP = sql.p(slaHours);
    rows = await many(ctx, sql, `SELECT c.d::text AS d, c.avg, coalesce(v.within, 0) AS within, c.with_tat FROM
        (SELECT day AS d, sum(tat_sum) / nullif(sum(tat_count), 0) AS avg, sum(tat_count)::bigint AS with_tat FROM ${reportedTable(f)} ${w} GROUP BY day) c
        LEFT JOIN (SELECT s.day AS d, sum(width_bucket(${slaP}::float8, s.arr))::bigint AS within FROM (${tatSource(sql, f, r, 'reported')}) s GROUP BY s.day) v ON v.d = c.d
      ORDER BY c.d`);
  } else {
    const slaP = sql.p(slaHours);
    const day = labDay(sql, ctx, 't.report_completed_date');
    const s = testScope(sql, f, r, 'report_completed_date', { reported: true });
    rows = await many(ctx, sql, `SELECT ${day}::text AS d, avg(t.tat_hours) AS avg,
        count(*) FILTER (WHERE t.tat_hours <= ${slaP}::float8)::bigint AS within, count(t.tat_hours)::bigint AS with_tat
      FROM ${s.from} ${s.where} GROUP BY 1 ORDER BY 1`);
  }
  return rows.map((x) => ({
    date: String(x.d),
    average_hours: numOrNull(x.avg),
    within_sla: num(x.within),
    beyond_sla: num(x.with_tat) - num(x.within),
  }));
}

// ------------------------------------------------------------------------------------------------ TAT statistics

/** 1-based ranks of the median (one or two values) and of the p95 (index rule of §7) among n sorted values. */
export function ranks(n: number): { median: number[]; p95: number } {
  const median = n % 2 === 1 ? [(n + 1) / 2] : [n / 2, n / 2 + 1];
  const p95 = Math.max(0, Math.min(Math.floor(n * 0.95) - 1, n - 1)) + 1;
  return { median, p95 };
}

export interface TatStats {
  n: number;
  average: number | null;
  median: number | null;
  p95: number | null;
  within: number;
  buckets: number[];
}

const EMPTY_STATS: TatStats = { n: 0, average: null, median: null, p95: null, within: 0, buckets: TAT_BUCKETS.map(() => 0) };

/** The largest float8 below x: "v < x" is "v <= nextDown(x)", which width_bucket can count. */
export function nextDown(x: number): number {
  if (x === 0) return -Number.MIN_VALUE;
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, x);
  const bits = buf.getBigUint64(0);
  buf.setBigUint64(0, x > 0 ? bits - 1n : bits + 1n);
  return buf.getFloat64(0);
}

/**
 * Mean, median, p95 (exact, by rank), within-SLA count and the five distribution buckets over a set of TAT
 * values given as a SQL source of rows with a column v. One sort (percentile_disc with rank-derived fractions).
 */
async function tatStatsOver(ctx: Ctx, sql: Sql, source: string, n: number, slaHours: number): Promise<TatStats> {
  if (n === 0) return EMPTY_STATS;
  const rk = ranks(n);
  // percentile_disc(f) is the ceil(f*n)-th value; (rank - 0.5)/n lands inside the wanted rank whatever the rounding.
  const fractions = [...rk.median, rk.p95].map((k) => (k - 0.5) / n);
  const slaP = sql.p(slaHours);
  const bucketSql = TAT_BUCKETS.map(([, lo, hi]) => `count(*) FILTER (WHERE v >= ${lo}${hi != null ? ` AND v < ${hi}` : ''})::bigint`).join(', ');
  const row = await one<Record<string, any>>(ctx, sql, `SELECT count(*)::bigint AS n, avg(v) AS avg,
      percentile_disc(${sql.p(fractions)}::float8[]) WITHIN GROUP (ORDER BY v) AS pct,
      count(*) FILTER (WHERE v <= ${slaP}::float8)::bigint AS within, ARRAY[${bucketSql}] AS buckets
    FROM (${source}) src`);
  const pct = (row.pct as number[]).map(Number);
  const median = rk.median.length === 1 ? pct[0] : (pct[0] + pct[1]) / 2;
  return {
    n: num(row.n),
    average: numOrNull(row.avg),
    median,
    p95: pct[pct.length - 1],
    within: num(row.within),
    buckets: (row.buckets as unknown[]).map(num),
  };
}

/**
 * tests/tat: TAT of tests REPORTED in range (the downloader's date_created_* parameters filter
 * report_completed_date). Rollup unless order_id/batch_id/unaligned: counts and sums from rollup_tests_reported_lab,
 * within and the buckets by width_bucket and the median and p95 by rank search (tat-rank.ts) over
 * rollup_tat_reported's sorted arrays (the per-customer rollup with customer_id); typed rows otherwise.
 */
export async function tatStats(ctx: Ctx, f: Filters, r: Range | null, slaHours: number): Promise<TatStats> {
  if (canRollup(ctx, r, f)) {
    const sql = new Sql();
    const slaP = sql.p(slaHours);
    // Bucket [lo, hi) holds C(< hi) - C(< lo); "< x" is "<= nextDown(x)".
    const edges = [...new Set(TAT_BUCKETS.flatMap(([, lo, hi]) => (hi == null ? [lo] : [lo, hi])))].sort((a, b) => a - b);
    const edgeP = sql.p(edges.map(nextDown));
    const belowSql = edges.map((_, i) => `sum(width_bucket((${edgeP}::float8[])[${i + 1}], s.arr))::bigint`).join(', ');
    const row = await one<Record<string, any>>(ctx, sql, `SELECT sum(cardinality(s.arr))::bigint AS n, sum(s.vsum) / nullif(sum(cardinality(s.arr)), 0) AS average,
        sum(width_bucket(${slaP}::float8, s.arr))::bigint AS within, ARRAY[${belowSql}] AS below,
        min(s.arr[1]) AS vmin, max(s.arr[cardinality(s.arr)]) AS vmax
      FROM (${tatSource(sql, f, r, 'reported', { byMonth: true })}) s`);
    const n = num(row.n);
    if (n === 0) return EMPTY_STATS;
    const below = new Map(edges.map((e, i) => [e, num(row.below[i])]));
    const rk = ranks(n);
    const src = new Sql();
    const values = await kthValues(
      ctx.pool,
      { sql: `SELECT label AS g, arr FROM (${tatSource(src, f, r, 'reported', { byMonth: true })}) s`, params: src.params },
      [...rk.median, rk.p95].map((k) => ({ group: '', k })),
      new Map([['', { n, min: Number(row.vmin), max: Number(row.vmax) }]]),
    );
    const median = rk.median.length === 1 ? values[0] : (values[0]! + values[1]!) / 2;
    return {
      n,
      average: numOrNull(row.average),
      median,
      p95: values[values.length - 1],
      within: num(row.within),
      buckets: TAT_BUCKETS.map(([, lo, hi]) => (hi == null ? n : below.get(hi)!) - below.get(lo)!),
    };
  }
  const cnt = new Sql();
  const sc = testScope(cnt, f, r, 'report_completed_date', { reported: true });
  const n = num((await one(ctx, cnt, `SELECT count(t.tat_hours)::bigint AS n FROM ${sc.from} ${sc.where}`)).n);
  const sql = new Sql();
  const s = testScope(sql, f, r, 'report_completed_date', { reported: true });
  return tatStatsOver(ctx, sql, `SELECT t.tat_hours AS v FROM ${s.from} ${s.where} AND t.tat_hours IS NOT NULL`, n, slaHours);
}

/** tests/tat series: mean TAT per completion day or ISO week (Monday), lab-local. Same sources as tatStats. */
export async function tatSeries(ctx: Ctx, f: Filters, r: Range | null, groupBy: 'day' | 'week'): Promise<Array<{ period_start: string; value: number }>> {
  const sql = new Sql();
  let rows: Array<{ p: string; v: number }>;
  if (canRollup(ctx, r, f)) {
    const period = groupBy === 'day' ? 'day' : `date_trunc('week', day)::date`;
    rows = await many(ctx, sql, `SELECT ${period}::text AS p, sum(tat_sum) / sum(tat_count) AS v
      FROM ${reportedTable(f)} ${rollupWhere(sql, f, r)} GROUP BY 1 HAVING sum(tat_count) > 0 ORDER BY 1`);
  } else {
    const day = labDay(sql, ctx, 't.report_completed_date');
    const period = groupBy === 'day' ? day : `date_trunc('week', ${day})::date`;
    const s = testScope(sql, f, r, 'report_completed_date', { reported: true });
    rows = await many(ctx, sql, `SELECT ${period}::text AS p, avg(t.tat_hours) AS v
      FROM ${s.from} ${s.where} AND t.tat_hours IS NOT NULL GROUP BY 1 ORDER BY 1`);
  }
  return rows.map((x) => ({ period_start: x.p, value: Number(x.v) }));
}

export interface LabelTat {
  label: string;
  average_hours: number;
  median_hours: number;
  p95_hours: number;
  total_tests: number;
}

/**
 * tests/tat-breakdown: per label_abbr (NULL = "unknown"), TAT of reported tests CREATED in range. Rollup unless
 * order_id/batch_id/unaligned: means from rollup_tests_created_lab's sums, medians and p95 by rank search
 * (tat-rank.ts, every label in the same passes) over rollup_tat_created's sorted arrays (the per-customer rollup
 * with customer_id or state). Typed rows otherwise: medians/p95 by rank within each label (one windowed sort).
 */
export async function tatBreakdown(ctx: Ctx, f: Filters, r: Range | null): Promise<LabelTat[]> {
  const sort = (a: LabelTat, b: LabelTat) => b.total_tests - a.total_tests || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0);
  if (canRollup(ctx, r, f)) {
    const sql = new Sql();
    const rows = await many<Record<string, any>>(ctx, sql, `SELECT s.label, sum(cardinality(s.arr))::bigint AS n, sum(s.vsum) / sum(cardinality(s.arr)) AS avg,
        min(s.arr[1]) AS vmin, max(s.arr[cardinality(s.arr)]) AS vmax
      FROM (${tatSource(sql, f, r, 'created', { byMonth: true })}) s GROUP BY 1`);
    if (!rows.length) return [];
    const bounds = new Map(rows.map((x) => [String(x.label), { n: num(x.n), min: Number(x.vmin), max: Number(x.vmax) }]));
    const targets = rows.flatMap((x) => {
      const rk = ranks(num(x.n));
      return [...rk.median, rk.p95].map((k) => ({ group: String(x.label), k }));
    });
    const src = new Sql();
    const values = await kthValues(
      ctx.pool,
      { sql: `SELECT label AS g, arr FROM (${tatSource(src, f, r, 'created', { byMonth: true })}) s`, params: src.params },
      targets,
      bounds,
    );
    let i = 0;
    return rows
      .map((x) => {
        const n = num(x.n);
        const rk = ranks(n);
        const med = rk.median.map(() => values[i++]!);
        const p95 = values[i++]!;
        return { label: String(x.label), average_hours: Number(x.avg), median_hours: med.reduce((a, b) => a + b, 0) / med.length, p95_hours: p95, total_tests: n };
      })
      .sort(sort);
  }
  const sql = new Sql();
  const s = testScope(sql, f, r, 'date_created', { reported: true });
  const source = `SELECT coalesce(t.label_abbr, 'unknown') AS label, t.tat_hours AS v FROM ${s.from} ${s.where} AND t.tat_hours IS NOT NULL`;
  const rows = await many<Record<string, unknown>>(ctx, sql, `
    WITH ranked AS (
      SELECT label, v, row_number() OVER (PARTITION BY label ORDER BY v) AS rn, count(*) OVER (PARTITION BY label) AS n FROM (${source}) src
    )
    SELECT label, max(n)::bigint AS n, avg(v) AS avg,
           avg(v) FILTER (WHERE rn BETWEEN (n + 1) / 2 AND n / 2 + 1) AS median,
           max(v) FILTER (WHERE rn = greatest(0, least(floor(n::float8 * 0.95::float8)::bigint - 1, n - 1)) + 1) AS p95
    FROM ranked GROUP BY label ORDER BY n DESC, label`);
  return rows.map((x) => ({ label: String(x.label), average_hours: Number(x.avg), median_hours: Number(x.median), p95_hours: Number(x.p95), total_tests: num(x.n) }));
}

// ------------------------------------------------------------------------------------------------ overviews

export interface Group {
  key: string;
  count: number;
}

const groupSort = (a: Group, b: Group) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * Totals and two groupings (NULL keys as "unknown", each sorted by count then key) in one GROUPING SETS pass over
 * `from` + `where`. a, b: the grouped columns; n, completed: the row count and completed count expressions (sums over
 * a rollup, counts over typed rows). Every argument is SQL written in this file, never input.
 */
async function overview(ctx: Ctx, sql: Sql, q: { a: string; b: string; n: string; completed: string; from: string; where: string }) {
  const a = `coalesce(${q.a}, 'unknown')`;
  const b = `coalesce(${q.b}, 'unknown')`;
  const rows = await many<Record<string, any>>(ctx, sql, `
    SELECT grouping(${a}) AS ga, grouping(${b}) AS gb, ${a} AS a, ${b} AS b, ${q.n}::bigint AS n, ${q.completed}::bigint AS completed
    FROM ${q.from} ${q.where}
    GROUP BY GROUPING SETS ((), (${a}), (${b}))`);
  const total = rows.find((x) => x.ga === 1 && x.gb === 1);
  const groups = (flag: 'ga' | 'gb', key: 'a' | 'b') => rows.filter((x) => x[flag] === 0).map((x) => ({ key: String(x[key]), count: num(x.n) })).sort(groupSort);
  return { total: num(total?.n), completed: num(total?.completed), byA: groups('ga', 'a'), byB: groups('gb', 'b') };
}

/** samples/overview: totals and groups by state and matrix type. Rollup (rollup_samples_lab / _daily) unless order_id/unaligned; typed rows otherwise. */
export async function samplesOverview(ctx: Ctx, f: Filters, r: Range | null) {
  const sql = new Sql();
  const s = canRollup(ctx, r, f) ? null : sampleScope(sql, f, r);
  const o = s
    ? await overview(ctx, sql, { a: 's.state', b: 's.matrix_type', n: 'count(*)', completed: 'count(s.completed_date)', from: s.from, where: s.where })
    : await overview(ctx, sql, { a: 'state', b: 'matrix_type', n: 'sum(samples_created)', completed: 'sum(samples_completed)', from: samplesTable(f), where: rollupWhere(sql, f, r) });
  return { total: o.total, completed: o.completed, byState: o.byA, byMatrix: o.byB };
}

/** tests/overview: totals and groups by state and label. Rollup (rollup_tests_created_lab / _created) unless order_id/batch_id/unaligned; typed rows otherwise. */
export async function testsOverview(ctx: Ctx, f: Filters, r: Range | null) {
  const sql = new Sql();
  const s = canRollup(ctx, r, f) ? null : testScope(sql, f, r, 'date_created');
  const o = s
    ? await overview(ctx, sql, { a: 't.state', b: 't.label_abbr', n: 'count(*)', completed: 'count(t.report_completed_date)', from: s.from, where: s.where })
    : await overview(ctx, sql, { a: 'state', b: 'label_abbr', n: 'sum(tests_created)', completed: 'sum(tests_reported)', from: createdTable(f), where: rollupWhere(sql, f, r) });
  return { total: o.total, completed: o.completed, byState: o.byA, byLabel: o.byB };
}

/** tests/label-distribution: tests created per fixed label. Rollup unless order_id/batch_id/unaligned. */
export async function labelCounts(ctx: Ctx, f: Filters, r: Range | null): Promise<Map<string, number>> {
  const sql = new Sql();
  let rows: Array<{ label: string; n: number }>;
  if (canRollup(ctx, r, f)) {
    rows = await many(ctx, sql, `SELECT label_abbr AS label, sum(tests_created)::bigint AS n FROM ${createdTable(f)}
      ${rollupWhere(sql, f, r, { labels: LABELS })} GROUP BY 1`);
  } else {
    const labelsP = sql.p(LABELS);
    const s = testScope(sql, f, r, 'date_created');
    rows = await many(ctx, sql, `SELECT t.label_abbr AS label, count(*)::bigint AS n FROM ${s.from} ${s.where} AND t.label_abbr = ANY(${labelsP}::text[]) GROUP BY 1`);
  }
  return new Map(rows.map((x) => [x.label, num(x.n)]));
}

/** reports/overview: tests in state REPORTED completed in range, within/beyond SLA. Same sources as reportedStats. */
export async function reportsOverview(ctx: Ctx, f: Filters, r: Range | null, slaHours: number) {
  const s = await reportedStats(ctx, f, r, slaHours, { forceState: 'REPORTED' });
  return { total: s.reported, within: s.within, beyond: s.beyond };
}

// ------------------------------------------------------------------------------------------------ customers

/** customers/new: newest customers created in range (typed table; NULL dates never listed). */
export async function newCustomers(ctx: Ctx, r: Range | null, limit: number) {
  const sql = new Sql();
  const conds = ['NOT c.deleted', 'c.date_created IS NOT NULL', ...(r ? sql.range('c.date_created', r) : [])];
  return many<{ id: number; name: string | null; created_at: Date }>(ctx, sql, `SELECT c.id, c.customer_name AS name, c.date_created AS created_at
    FROM qbench.customers c ${where(conds)} ORDER BY c.date_created DESC, c.id DESC LIMIT ${sql.p(limit)}`);
}

/** customers/top-tests: customers ranked by tests created in range, with tests reported in range. Rollup (rollup_customers_daily) unless unaligned. */
export async function topCustomers(ctx: Ctx, r: Range | null, limit: number) {
  const none: Filters = {};
  const sql = new Sql();
  let top: Array<{ id: number; name: string | null; tests: number; tests_reported: number }>;
  if (canRollup(ctx, r, none)) {
    top = await many(ctx, sql, `WITH per AS (SELECT customer_id, sum(tests_created)::bigint AS n, sum(tests_reported)::bigint AS rep
        FROM qbench.rollup_customers_daily ${rollupWhere(sql, none, r)} GROUP BY 1 HAVING sum(tests_created) > 0)
      SELECT c.id, c.customer_name AS name, per.n AS tests, per.rep AS tests_reported FROM per JOIN qbench.customers c ON c.id = per.customer_id AND NOT c.deleted
      ORDER BY per.n DESC, c.id LIMIT ${sql.p(limit)}`);
  } else {
    const s = testScope(sql, none, r, 'date_created');
    const ranked = await many<{ id: number; name: string | null; tests: number }>(ctx, sql, `SELECT c.id, c.customer_name AS name, count(*)::bigint AS tests
      FROM ${s.from} JOIN qbench.samples s ON s.id = t.sample_id JOIN qbench.orders o ON o.id = s.order_id
      JOIN qbench.customers c ON c.id = o.customer_id AND NOT c.deleted ${s.where}
      GROUP BY c.id ORDER BY 3 DESC, c.id LIMIT ${sql.p(limit)}`);
    if (!ranked.length) return [];
    const sql2 = new Sql();
    const idsP = sql2.p(ranked.map((x) => Number(x.id)));
    const s2 = testScope(sql2, none, r, 'report_completed_date', { reported: true });
    const reported = await many<{ id: number; n: number }>(ctx, sql2, `SELECT o.customer_id AS id, count(*)::bigint AS n
      FROM ${s2.from} JOIN qbench.samples s ON s.id = t.sample_id JOIN qbench.orders o ON o.id = s.order_id
      ${s2.where} AND o.customer_id = ANY(${idsP}::bigint[]) GROUP BY 1`);
    const rep = new Map(reported.map((x) => [Number(x.id), num(x.n)]));
    top = ranked.map((x) => ({ ...x, tests_reported: rep.get(Number(x.id)) ?? 0 }));
  }
  return top.map((x) => ({ id: Number(x.id), name: x.name, tests: num(x.tests), tests_reported: num(x.tests_reported) }));
}

// ------------------------------------------------------------------------------------------------ filters, sync status

/** Distinct non-null states of a table by loose index scan on its state index (no full scan). */
async function distinctStates(ctx: Ctx, table: 'tests' | 'samples'): Promise<string[]> {
  const { rows } = await ctx.pool.query<{ state: string }>(`
    WITH RECURSIVE st AS (
      (SELECT state FROM qbench.${table} WHERE state IS NOT NULL AND NOT deleted ORDER BY state LIMIT 1)
      UNION ALL
      SELECT (SELECT x.state FROM qbench.${table} x WHERE x.state > st.state AND NOT x.deleted ORDER BY x.state LIMIT 1) FROM st WHERE st.state IS NOT NULL
    ) SELECT state FROM st WHERE state IS NOT NULL`);
  return rows.map((x) => x.state);
}

export async function filterValues(ctx: Ctx) {
  const [customers, sampleStates, testStates, last] = await Promise.all([
    ctx.pool.query<{ id: number; name: string | null }>(`SELECT id, customer_name AS name FROM qbench.customers WHERE NOT deleted ORDER BY customer_name NULLS LAST, id`),
    distinctStates(ctx, 'samples'),
    distinctStates(ctx, 'tests'),
    lastUpdatedAt(ctx),
  ]);
  return { customers: customers.rows, sampleStates, testStates, lastUpdatedAt: last };
}

export async function syncStatus(ctx: Ctx, entity: string) {
  const { rows } = await ctx.pool.query<Record<string, any>>(
    `SELECT c.updated_at, c.status AS checkpoint_status, w.since_at AS watermark_at,
            (SELECT max(e.finished_at) FROM qbsync.sync_run_entities e WHERE e.entity = $1 AND e.status = 'succeeded') AS last_success_at
     FROM (SELECT $1::text AS entity) x
     LEFT JOIN qbsync.checkpoints c ON c.entity = x.entity
     LEFT JOIN qbsync.watermarks w ON w.entity = x.entity`,
    [entity],
  );
  return rows[0];
}
