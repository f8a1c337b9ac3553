/**
 * Analytics queries (downloader routers/analytics.py). They group orders, samples and tests by state and
 * open time, which the daily rollups do not hold, so all of them read the typed rows (indexed on the date
 * columns, customer and state). Periods (day | ISO week, Monday) are lab-local. Deleted rows never count.
 * "now" is the database clock; a date_to replaces it as the reference time where the downloader did so.
 */
import { Sql, where, type Range } from './range.js';
import type { Ctx } from './metrics.js';

const num = (v: unknown): number => (v == null ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v == null ? null : Number(v));
const iso = (d: unknown): string | null => (d instanceof Date ? d.toISOString() : d == null ? null : String(d));
const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
const period = (sql: Sql, ctx: Ctx, col: string, interval: 'day' | 'week') =>
  `date_trunc(${sql.p(interval)}, (${col}) AT TIME ZONE ${sql.p(ctx.tz)})::date::text`;
const hours = (expr: string) => `(extract(epoch FROM ${expr}) / 3600.0)::float8`;

async function rows<T = Record<string, any>>(ctx: Ctx, sql: Sql, text: string): Promise<T[]> {
  return (await ctx.pool.query(text, sql.params)).rows as T[];
}

/** orders/throughput: orders created and completed per period; completion = date_completed - date_created. */
export async function ordersThroughput(ctx: Ctx, r: Range, customerId: number | undefined, interval: 'day' | 'week') {
  const sqlC = new Sql();
  const cc = ['NOT o.deleted', 'o.date_created IS NOT NULL', ...sqlC.range('o.date_created', r)];
  if (customerId != null) cc.push(`o.customer_id = ${sqlC.p(customerId)}`);
  const created = await rows(ctx, sqlC, `SELECT ${period(sqlC, ctx, 'o.date_created', interval)} AS p, count(*)::bigint AS n FROM qbench.orders o ${where(cc)} GROUP BY 1`);
  const sqlD = new Sql();
  const dc = ['NOT o.deleted', 'o.date_completed IS NOT NULL', 'o.date_created IS NOT NULL', ...sqlD.range('o.date_completed', r)];
  if (customerId != null) dc.push(`o.customer_id = ${sqlD.p(customerId)}`);
  const dur = hours('o.date_completed - o.date_created');
  const p = period(sqlD, ctx, 'o.date_completed', interval);
  const completed = await rows(ctx, sqlD, `SELECT grouping(${p}) AS g, ${p} AS p, count(*)::bigint AS n, avg(${dur}) AS avg,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY ${dur}) AS median
    FROM qbench.orders o ${where(dc)} GROUP BY GROUPING SETS ((${p}), ())`);
  const cMap = new Map(created.map((x) => [x.p as string, num(x.n)]));
  const dMap = new Map(completed.filter((x) => x.g === 0).map((x) => [x.p as string, x]));
  const total = completed.find((x) => x.g === 1);
  const periods = [...new Set([...cMap.keys(), ...dMap.keys()])].sort();
  return {
    interval,
    points: periods.map((ps) => ({
      period_start: ps,
      orders_created: cMap.get(ps) ?? 0,
      orders_completed: num(dMap.get(ps)?.n),
      average_completion_hours: numOrNull(dMap.get(ps)?.avg),
      median_completion_hours: numOrNull(dMap.get(ps)?.median),
    })),
    totals: {
      orders_created: [...cMap.values()].reduce((a, b) => a + b, 0),
      orders_completed: num(total?.n),
      average_completion_hours: numOrNull(total?.avg),
      median_completion_hours: numOrNull(total?.median),
    },
  };
}

/** samples/cycle-time: samples COMPLETED in range; cycle = completed_date - date_created. */
export async function samplesCycleTime(ctx: Ctx, r: Range, f: { customerId?: number; orderId?: number; matrixType?: string; state?: string }, interval: 'day' | 'week') {
  const sql = new Sql();
  const conds = ['NOT s.deleted', 's.completed_date IS NOT NULL', 's.date_created IS NOT NULL', ...sql.range('s.completed_date', r)];
  let join = '';
  if (f.customerId != null) {
    join = ' JOIN qbench.orders o ON o.id = s.order_id';
    conds.push(`o.customer_id = ${sql.p(f.customerId)}`);
  }
  if (f.orderId != null) conds.push(`s.order_id = ${sql.p(f.orderId)}`);
  if (f.matrixType) conds.push(`s.matrix_type = ${sql.p(f.matrixType)}`);
  if (f.state) conds.push(`s.state = ${sql.p(f.state)}`);
  const cyc = hours('s.completed_date - s.date_created');
  const p = period(sql, ctx, 's.completed_date', interval);
  const m = `coalesce(s.matrix_type, 'Unknown')`;
  const out = await rows(ctx, sql, `SELECT grouping(${p}) AS gp, grouping(${m}) AS gm, ${p} AS p, ${m} AS matrix, count(*)::bigint AS n, avg(${cyc}) AS avg,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY ${cyc}) AS median
    FROM qbench.samples s${join} ${where(conds)} GROUP BY GROUPING SETS ((${p}), (${m}), ())`);
  const total = out.find((x) => x.gp === 1 && x.gm === 1);
  return {
    interval,
    points: out.filter((x) => x.gp === 0).sort((a, b) => (a.p < b.p ? -1 : 1)).map((x) => ({
      period_start: x.p, completed_samples: num(x.n), average_cycle_hours: numOrNull(x.avg), median_cycle_hours: numOrNull(x.median),
    })),
    totals: { completed_samples: num(total?.n), average_cycle_hours: numOrNull(total?.avg), median_cycle_hours: numOrNull(total?.median) },
    by_matrix_type: out.filter((x) => x.gm === 0).sort((a, b) => (a.matrix < b.matrix ? -1 : 1)).map((x) => ({
      matrix_type: x.matrix, completed_samples: num(x.n), average_cycle_hours: numOrNull(x.avg),
    })),
  };
}

/** orders/funnel: created, received, completed, reported (each by its own date in range) and on hold (created in range). */
export async function ordersFunnel(ctx: Ctx, r: Range, customerId: number | undefined) {
  const sql = new Sql();
  const cust = customerId != null ? ` AND o.customer_id = ${sql.p(customerId)}` : '';
  const cond = (col: string) => [`o.${col} IS NOT NULL`, ...sql.range(`o.${col}`, r)].join(' AND ');
  const [x] = await rows(ctx, sql, `SELECT
      count(*) FILTER (WHERE ${cond('date_created')})::bigint AS created,
      count(*) FILTER (WHERE ${cond('date_received')})::bigint AS received,
      count(*) FILTER (WHERE ${cond('date_completed')})::bigint AS completed,
      count(*) FILTER (WHERE ${cond('date_order_reported')})::bigint AS reported,
      count(*) FILTER (WHERE ${cond('date_created')} AND o.state = 'ON HOLD')::bigint AS on_hold
    FROM qbench.orders o WHERE NOT o.deleted${cust}`);
  return {
    total_orders: num(x.created),
    stages: (['created', 'received', 'completed', 'reported', 'on_hold'] as const).map((stage) => ({ stage, count: num(x[stage]) })),
  };
}

/** orders/slowest: orders created in range by completion time, or age (to date_to or now) when open. */
export async function slowestOrders(ctx: Ctx, r: Range, f: { customerId?: number; state?: string }, limit: number) {
  const sql = new Sql();
  const ref = r.to ? `${sql.p(r.to.instant)}::timestamptz` : 'now()';
  const conds = ['NOT o.deleted', 'o.date_created IS NOT NULL', ...sql.range('o.date_created', r)];
  if (f.customerId != null) conds.push(`o.customer_id = ${sql.p(f.customerId)}`);
  if (f.state) conds.push(`o.state = ${sql.p(f.state)}`);
  const completion = hours('o.date_completed - o.date_created');
  const age = `greatest(${hours(`${ref} - o.date_created`)}, 0)`;
  const out = await rows(ctx, sql, `SELECT o.id, coalesce(o.custom_formatted_id, 'order-' || o.id) AS ref, c.customer_name, o.state,
      o.date_created, o.date_completed, ${completion} AS completion, ${age} AS age
    FROM qbench.orders o LEFT JOIN qbench.customers c ON c.id = o.customer_id ${where(conds)}
    ORDER BY coalesce(${completion}, ${age}) DESC, o.date_created DESC, o.id LIMIT ${sql.p(limit)}`);
  return {
    items: out.map((x) => ({
      order_id: Number(x.id), order_reference: x.ref, customer_name: x.customer_name ?? null, state: x.state ?? null,
      completion_hours: numOrNull(x.completion), age_hours: num(x.age), date_created: iso(x.date_created), date_completed: iso(x.date_completed),
    })),
  };
}

export interface OverdueParams {
  interval: 'day' | 'week';
  minDays: number;
  warningDays: number;
  slaHours: number;
  topLimit: number;
  clientLimit: number;
  warningLimit: number;
}

/**
 * orders/overdue: active orders (state <> REPORTED) created in range, open for at least min_days_overdue days
 * at the reference time (date_to, or now). KPIs, the oldest ones with their sample progress, per customer,
 * those about to become overdue (warning window), a timeline, a customer × period heatmap, states.
 */
export async function overdueOrders(ctx: Ctx, r: Range, p: OverdueParams) {
  const sql = new Sql();
  const ref = r.to ? `${sql.p(r.to.instant)}::timestamptz` : 'now()';
  const open = hours(`${ref} - o.date_created`);
  const base = ['NOT o.deleted', 'o.date_created IS NOT NULL', ...sql.range('o.date_created', r), `(o.state IS NULL OR o.state <> 'REPORTED')`];
  // Every statement below shares these parameters; the params CTE gives each one its type even where unused.
  const cte = `WITH params AS (
      SELECT ${sql.p(p.minDays * 24)}::float8 AS overdue_h, ${sql.p(p.slaHours)}::float8 AS sla_h,
             ${sql.p(Math.max(0, p.minDays - p.warningDays) * 24)}::float8 AS warn_h, ${sql.p(p.topLimit)}::int AS top_l,
             ${sql.p(p.clientLimit)}::int AS client_l, ${sql.p(p.warningLimit)}::int AS warn_l, ${sql.p(p.interval)}::text AS unit,
             ${sql.p(ctx.tz)}::text AS tz
    ), active AS (
      SELECT o.id, o.custom_formatted_id, o.customer_id, c.customer_name, o.state, o.date_created, ${open} AS open_hours,
             date_trunc((SELECT unit FROM params), o.date_created AT TIME ZONE (SELECT tz FROM params))::date::text AS period
      FROM qbench.orders o LEFT JOIN qbench.customers c ON c.id = o.customer_id ${where(base)}
    ), overdue AS (SELECT * FROM active WHERE open_hours >= (SELECT overdue_h FROM params))`;
  const q = (text: string) => rows(ctx, sql, `${cte} ${text}`);
  const [kpi, top, clients, warning, timeline, heatmap, states] = await Promise.all([
    q(`SELECT (SELECT count(*) FROM active)::bigint AS active, count(*)::bigint AS total, avg(open_hours) AS avg, max(open_hours) AS max,
         count(*) FILTER (WHERE open_hours > (SELECT sla_h FROM params))::bigint AS beyond FROM overdue`),
    q(`SELECT * FROM overdue ORDER BY open_hours DESC, id LIMIT (SELECT top_l FROM params)`),
    q(`SELECT customer_id, customer_name, count(*)::bigint AS n, sum(open_hours) AS total, avg(open_hours) AS avg, max(open_hours) AS max
       FROM overdue GROUP BY customer_id, customer_name ORDER BY sum(open_hours) DESC, customer_id LIMIT (SELECT client_l FROM params)`),
    p.warningDays > 0 && Math.max(0, p.minDays - p.warningDays) < p.minDays
      ? q(`SELECT * FROM active WHERE open_hours >= (SELECT warn_h FROM params) AND open_hours < (SELECT overdue_h FROM params)
           ORDER BY open_hours DESC, id LIMIT (SELECT warn_l FROM params)`)
      : Promise.resolve([]),
    q(`SELECT period, count(*)::bigint AS n FROM overdue GROUP BY period ORDER BY period`),
    q(`SELECT customer_id, customer_name, period, count(*)::bigint AS n FROM overdue GROUP BY 1, 2, 3 ORDER BY customer_name NULLS LAST, period`),
    q(`SELECT state, count(*)::bigint AS n FROM overdue GROUP BY state ORDER BY n DESC, state`),
  ]);
  const k = kpi[0];
  const total = num(k.total);
  const ids = top.map((x) => Number(x.id));
  const progress = new Map<number, { total: number; incomplete: number }>();
  if (ids.length) {
    const s2 = new Sql();
    for (const x of await rows(ctx, s2, `SELECT s.order_id, count(*)::bigint AS n, count(*) FILTER (WHERE s.completed_date IS NULL)::bigint AS incomplete
        FROM qbench.samples s WHERE s.order_id = ANY(${s2.p(ids)}::bigint[]) AND NOT s.deleted GROUP BY 1`)) {
      progress.set(Number(x.order_id), { total: num(x.n), incomplete: num(x.incomplete) });
    }
  }
  const item = (x: Record<string, any>) => ({
    order_id: Number(x.id), custom_formatted_id: x.custom_formatted_id ?? null, customer_id: numOrNull(x.customer_id), customer_name: x.customer_name ?? null,
    state: x.state ?? null, date_created: iso(x.date_created), open_hours: num(x.open_hours),
  });
  return {
    interval: p.interval,
    minimum_days_overdue: p.minDays,
    warning_window_days: p.warningDays,
    sla_hours: p.slaHours,
    kpis: {
      total_overdue: total, average_open_hours: numOrNull(k.avg), max_open_hours: numOrNull(k.max),
      percent_overdue_vs_active: ratio(total, num(k.active)), overdue_beyond_sla: num(k.beyond), overdue_within_sla: Math.max(0, total - num(k.beyond)),
    },
    top_orders: top.map((x) => ({ ...item(x), total_samples: progress.get(Number(x.id))?.total ?? 0, incomplete_sample_count: progress.get(Number(x.id))?.incomplete ?? 0 })),
    clients: clients.map((x) => ({
      customer_id: numOrNull(x.customer_id), customer_name: x.customer_name ?? null, overdue_orders: num(x.n), total_open_hours: num(x.total),
      average_open_hours: numOrNull(x.avg), max_open_hours: numOrNull(x.max),
    })),
    warning_orders: warning.map(item),
    timeline: timeline.map((x) => ({ period_start: x.period, overdue_orders: num(x.n) })),
    heatmap: heatmap.map((x) => ({ customer_id: numOrNull(x.customer_id), customer_name: x.customer_name ?? null, period_start: x.period, overdue_orders: num(x.n) })),
    state_breakdown: states.map((x) => ({ state: x.state ?? null, count: num(x.n), ratio: ratio(num(x.n), total) })),
  };
}

/**
 * customers/alerts: per customer × period of tests created in range, the share on hold, not reportable and
 * beyond the SLA (open tests count their age to now); per customer the same for orders; an alert when the
 * largest share reaches min_alert_percentage.
 */
export async function customerAlerts(ctx: Ctx, r: Range, customerId: number | undefined, interval: 'day' | 'week', slaHours: number, minAlert: number) {
  const sql = new Sql();
  const slaP = sql.p(slaHours);
  const conds = ['NOT t.deleted', 't.date_created IS NOT NULL', ...sql.range('t.date_created', r)];
  if (customerId != null) conds.push(`o.customer_id = ${sql.p(customerId)}`);
  const tat = hours('coalesce(t.report_completed_date, now()) - t.date_created');
  const per = period(sql, ctx, 't.date_created', interval);
  const heat = await rows(ctx, sql, `SELECT c.id AS customer_id, c.customer_name, ${per} AS period, count(*)::bigint AS total,
      count(*) FILTER (WHERE t.state = 'ON HOLD')::bigint AS on_hold, count(*) FILTER (WHERE t.state = 'NOT REPORTABLE')::bigint AS not_reportable,
      count(*) FILTER (WHERE ${tat} > ${slaP}::float8)::bigint AS beyond, max(t.date_created) AS latest
    FROM qbench.tests t JOIN qbench.samples s ON s.id = t.sample_id JOIN qbench.orders o ON o.id = s.order_id
    JOIN qbench.customers c ON c.id = o.customer_id ${where(conds)}
    GROUP BY 1, 2, 3 ORDER BY c.customer_name NULLS LAST, 3`);
  const sqlO = new Sql();
  const slaO = sqlO.p(slaHours);
  const oc = ['NOT o.deleted', 'o.date_created IS NOT NULL', ...sqlO.range('o.date_created', r)];
  if (customerId != null) oc.push(`o.customer_id = ${sqlO.p(customerId)}`);
  const otat = hours('coalesce(o.date_completed, now()) - o.date_created');
  const orders = await rows(ctx, sqlO, `SELECT c.id AS customer_id, c.customer_name, count(*)::bigint AS total,
      count(*) FILTER (WHERE o.state = 'ON HOLD')::bigint AS on_hold, count(*) FILTER (WHERE ${otat} > ${slaO}::float8)::bigint AS beyond, max(o.date_created) AS latest
    FROM qbench.orders o JOIN qbench.customers c ON c.id = o.customer_id ${where(oc)} GROUP BY 1, 2`);
  type Agg = { name: string | null; tt: number; th: number; tn: number; tb: number; ot: number; oh: number; ob: number; latest: Date | null };
  const agg = new Map<number, Agg>();
  const get = (id: number, name: string | null) => {
    let a = agg.get(id);
    if (!a) agg.set(id, (a = { name, tt: 0, th: 0, tn: 0, tb: 0, ot: 0, oh: 0, ob: 0, latest: null }));
    return a;
  };
  const later = (a: Date | null, b: Date | null) => (!a ? b : !b ? a : a > b ? a : b);
  for (const h of heat) {
    const a = get(Number(h.customer_id), h.customer_name);
    a.tt += num(h.total); a.th += num(h.on_hold); a.tn += num(h.not_reportable); a.tb += num(h.beyond);
    a.latest = later(a.latest, h.latest);
  }
  for (const o of orders) {
    const a = get(Number(o.customer_id), o.customer_name);
    a.ot += num(o.total); a.oh += num(o.on_hold); a.ob += num(o.beyond);
    a.latest = later(a.latest, o.latest);
  }
  const alerts = [];
  for (const [id, a] of [...agg.entries()].sort((x, y) => x[0] - y[0])) {
    const ratios: Array<[string, number]> = [
      ['tests_on_hold', ratio(a.th, a.tt)], ['tests_not_reportable', ratio(a.tn, a.tt)], ['tests_beyond_sla', ratio(a.tb, a.tt)],
      ['orders_on_hold', ratio(a.oh, a.ot)], ['orders_beyond_sla', ratio(a.ob, a.ot)],
    ];
    const [reason, value] = ratios.reduce((best, x) => (x[1] > best[1] ? x : best));
    if (value < minAlert) continue;
    alerts.push({
      customer_id: id, customer_name: a.name, orders_total: a.ot, orders_on_hold: a.oh, orders_beyond_sla: a.ob, tests_total: a.tt,
      tests_on_hold: a.th, tests_not_reportable: a.tn, tests_beyond_sla: a.tb, primary_reason: reason, primary_ratio: value, latest_activity_at: iso(a.latest),
    });
  }
  alerts.sort((x, y) => y.primary_ratio - x.primary_ratio || x.customer_id - y.customer_id);
  return {
    interval, sla_hours: slaHours, min_alert_percentage: minAlert,
    heatmap: heat.map((h) => {
      const t = num(h.total);
      return {
        customer_id: Number(h.customer_id), customer_name: h.customer_name, period_start: h.period, total_tests: t, on_hold_tests: num(h.on_hold),
        not_reportable_tests: num(h.not_reportable), sla_breach_tests: num(h.beyond), on_hold_ratio: ratio(num(h.on_hold), t),
        not_reportable_ratio: ratio(num(h.not_reportable), t), sla_breach_ratio: ratio(num(h.beyond), t),
      };
    }),
    alerts,
  };
}

/** tests/state-distribution: tests created in range per period and state (NULL = UNKNOWN), with ratios. */
export async function testsStateDistribution(ctx: Ctx, r: Range, f: { customerId?: number; orderId?: number }, interval: 'day' | 'week') {
  const sql = new Sql();
  const conds = ['NOT t.deleted', 't.date_created IS NOT NULL', ...sql.range('t.date_created', r)];
  let join = '';
  if (f.customerId != null || f.orderId != null) join = ' JOIN qbench.samples s ON s.id = t.sample_id';
  if (f.customerId != null) {
    join += ' JOIN qbench.orders o ON o.id = s.order_id';
    conds.push(`o.customer_id = ${sql.p(f.customerId)}`);
  }
  if (f.orderId != null) conds.push(`s.order_id = ${sql.p(f.orderId)}`);
  const per = period(sql, ctx, 't.date_created', interval);
  const out = await rows(ctx, sql, `SELECT ${per} AS period, coalesce(t.state, 'UNKNOWN') AS state, count(*)::bigint AS n
    FROM qbench.tests t${join} ${where(conds)} GROUP BY 1, 2`);
  const states = [...new Set(out.map((x) => String(x.state)))].sort();
  const series = new Map<string, Map<string, number>>();
  const totals = new Map<string, number>();
  for (const x of out) {
    const m = series.get(x.period) ?? new Map<string, number>();
    m.set(x.state, num(x.n));
    series.set(x.period, m);
    totals.set(x.state, (totals.get(x.state) ?? 0) + num(x.n));
  }
  const buckets = (m: Map<string, number>) => {
    const total = [...m.values()].reduce((a, b) => a + b, 0);
    return { total, buckets: total ? states.map((s) => ({ state: s, count: m.get(s) ?? 0, ratio: ratio(m.get(s) ?? 0, total) })) : [] };
  };
  return {
    interval,
    states,
    series: [...series.keys()].sort().map((ps) => {
      const b = buckets(series.get(ps)!);
      return { period_start: ps, total_tests: b.total, buckets: b.buckets };
    }),
    totals: buckets(totals).buckets,
  };
}

/** kpis/quality: tests created in range by outcome and SLA (open tests by age to now); orders likewise. */
export async function qualityKpis(ctx: Ctx, r: Range, f: { customerId?: number; orderId?: number }, slaHours: number) {
  const sql = new Sql();
  const slaP = sql.p(slaHours);
  const conds = ['NOT t.deleted', 't.date_created IS NOT NULL', ...sql.range('t.date_created', r)];
  let join = '';
  if (f.customerId != null || f.orderId != null) join = ' JOIN qbench.samples s ON s.id = t.sample_id';
  if (f.customerId != null) {
    join += ' JOIN qbench.orders o ON o.id = s.order_id';
    conds.push(`o.customer_id = ${sql.p(f.customerId)}`);
  }
  if (f.orderId != null) conds.push(`s.order_id = ${sql.p(f.orderId)}`);
  const tat = hours('coalesce(t.report_completed_date, now()) - t.date_created');
  const [t] = await rows(ctx, sql, `SELECT count(*)::bigint AS total, count(*) FILTER (WHERE t.state = 'ON HOLD')::bigint AS on_hold,
      count(*) FILTER (WHERE t.state = 'NOT REPORTABLE')::bigint AS not_reportable,
      count(*) FILTER (WHERE t.state IN ('CANCELLED', 'CLIENT CANCELLED'))::bigint AS cancelled,
      count(*) FILTER (WHERE t.state = 'REPORTED')::bigint AS reported,
      count(*) FILTER (WHERE ${tat} <= ${slaP}::float8)::bigint AS within, count(*) FILTER (WHERE ${tat} > ${slaP}::float8)::bigint AS beyond
    FROM qbench.tests t${join} ${where(conds)}`);
  const sqlO = new Sql();
  const slaO = sqlO.p(slaHours);
  const oc = ['NOT o.deleted', 'o.date_created IS NOT NULL', ...sqlO.range('o.date_created', r)];
  if (f.customerId != null) oc.push(`o.customer_id = ${sqlO.p(f.customerId)}`);
  if (f.orderId != null) oc.push(`o.id = ${sqlO.p(f.orderId)}`);
  const otat = hours('coalesce(o.date_completed, now()) - o.date_created');
  const [o] = await rows(ctx, sqlO, `SELECT count(*)::bigint AS total, count(*) FILTER (WHERE o.state = 'ON HOLD')::bigint AS on_hold,
      count(o.date_completed)::bigint AS completed, count(*) FILTER (WHERE ${otat} <= ${slaO}::float8)::bigint AS within,
      count(*) FILTER (WHERE ${otat} > ${slaO}::float8)::bigint AS beyond FROM qbench.orders o ${where(oc)}`);
  const tt = num(t.total);
  const ot = num(o.total);
  return {
    sla_hours: slaHours,
    tests: {
      total_tests: tt, on_hold_tests: num(t.on_hold), not_reportable_tests: num(t.not_reportable), cancelled_tests: num(t.cancelled),
      reported_tests: num(t.reported), within_sla_tests: num(t.within), beyond_sla_tests: num(t.beyond),
      on_hold_ratio: ratio(num(t.on_hold), tt), not_reportable_ratio: ratio(num(t.not_reportable), tt), beyond_sla_ratio: ratio(num(t.beyond), tt),
    },
    orders: {
      total_orders: ot, on_hold_orders: num(o.on_hold), completed_orders: num(o.completed), within_sla_orders: num(o.within),
      beyond_sla_orders: num(o.beyond), on_hold_ratio: ratio(num(o.on_hold), ot), beyond_sla_ratio: ratio(num(o.beyond), ot),
    },
  };
}

/** Python's round() to a whole number (half to even), as the downloader's open-time label used it. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** "3d 4h", "7h": hours (clamped at 0) rounded half to even, then whole days and the remaining hours. */
export function openTimeLabel(hoursOpen: number): string {
  const total = roundHalfEven(Math.max(0, hoursOpen));
  const days = Math.floor(total / 24);
  return days ? `${days}d ${total % 24}h` : `${total % 24}h`;
}

/** A customer_query that is a customer id (plain digits, as the downloader's int() read it). */
const idQuery = (q: string): number | null => (/^[0-9]{1,15}$/.test(q) ? Number(q) : null);

export interface PriorityParams {
  customerQuery?: string;
  minOpenHours: number;
  lookbackDays: number;
  limit: number;
  outlierHours: number;
}

/**
 * priority-orders/slowest: orders REPORTED in the window, ranked by open time = date_order_reported −
 * date_created (hours, 0 when the date-only report day is before the creation time). The window is the range
 * rule on date_order_reported; without date_from it starts lookback_days before date_to (same lab-local time of
 * day) or before now; without date_to it ends now. customer_query: a customer id (digits) or a case-insensitive
 * fragment of the customer name (plain text, no wildcards). Stats cover every order that passes the filters,
 * items the slowest `limit` (ties: later report day first, then id); outliers are open >= outlier_threshold_hours.
 */
export async function prioritySlowestOrders(ctx: Ctx, r: Range, p: PriorityParams) {
  // The filtered orders, written into a fresh Sql (each statement numbers its own parameters).
  const filtered = (sql: Sql) => {
    const open = `greatest(${hours('o.date_order_reported - o.date_created')}, 0)`;
    const conds = ['NOT o.deleted', 'o.date_order_reported IS NOT NULL', 'o.date_created IS NOT NULL', ...sql.range('o.date_order_reported', r)];
    if (!r.lo) {
      const ref = r.to ? `${sql.p(r.to.instant)}::timestamptz` : 'now()';
      const tz = `${sql.p(ctx.tz)}::text`;
      conds.push(`o.date_order_reported >= ((${ref} AT TIME ZONE ${tz}) - make_interval(days => ${sql.p(p.lookbackDays)}::int)) AT TIME ZONE ${tz}`);
    }
    if (!r.hi) conds.push('o.date_order_reported <= now()');
    const q = (p.customerQuery ?? '').trim();
    if (q) {
      const id = idQuery(q);
      const byName = `strpos(lower(c.customer_name), lower(${sql.p(q)}::text)) > 0`;
      conds.push(id !== null ? `(o.customer_id = ${sql.p(id)}::bigint OR ${byName})` : byName);
    }
    return `WITH f AS (
        SELECT o.id, coalesce(o.custom_formatted_id, 'ORD-' || o.id) AS ref, c.customer_name, o.date_created, o.date_order_reported,
               coalesce(o.sample_count, 0) AS samples, coalesce(o.test_count, 0) AS tests, ${open} AS open_h
        FROM qbench.orders o LEFT JOIN qbench.customers c ON c.id = o.customer_id AND NOT c.deleted ${where(conds)}
      ), kept AS (SELECT * FROM f WHERE open_h >= ${sql.p(p.minOpenHours)}::float8)`;
  };
  const sqlS = new Sql();
  const sqlI = new Sql();
  const cteI = filtered(sqlI);
  const [stats, items] = await Promise.all([
    rows(ctx, sqlS, `${filtered(sqlS)} SELECT count(*)::bigint AS n, avg(open_h) AS avg, percentile_cont(0.95) WITHIN GROUP (ORDER BY open_h) AS p95 FROM kept`),
    rows(ctx, sqlI, `${cteI} SELECT * FROM kept ORDER BY open_h DESC, date_order_reported DESC, id LIMIT ${sqlI.p(p.limit)}::int`),
  ]);
  return {
    stats: {
      total_orders: num(stats[0]?.n),
      average_open_hours: numOrNull(stats[0]?.avg),
      percentile_95_open_hours: numOrNull(stats[0]?.p95),
      threshold_hours: p.outlierHours,
    },
    items: items.map((x) => {
      const h = num(x.open_h);
      return {
        order_id: Number(x.id), order_reference: String(x.ref), customer_name: x.customer_name ?? null,
        date_created: iso(x.date_created), date_reported: iso(x.date_order_reported), samples_count: num(x.samples), tests_count: num(x.tests),
        open_time_hours: h, open_time_label: openTimeLabel(h), is_outlier: h >= p.outlierHours,
      };
    }),
  };
}

/** Share of the SLA at which an open order is a "warning" (downloader _WARNING_RATIO). */
export const WARNING_RATIO = 0.75;

/** ok / warning (age >= 0.75 × SLA) / overdue (age >= SLA) of an open order of `age` hours. */
export function slaStatus(age: number, slaHours: number): 'ok' | 'warning' | 'overdue' {
  if (slaHours <= 0) return 'ok';
  if (age >= slaHours) return 'overdue';
  return age >= slaHours * WARNING_RATIO ? 'warning' : 'ok';
}

/** Matches of a customer name search: how many at most (the downloader's limit). */
export const CUSTOMER_MATCH_LIMIT = 10;

/**
 * Customers whose name contains `term` (case-insensitive, plain text), scored as the downloader scored them:
 * 1.0 the whole name, 0.9 the start of it, 0.75 elsewhere in it; best first, ties by id. Deleted customers never match.
 */
export async function findCustomers(ctx: Ctx, term: string) {
  const sql = new Sql();
  const t = `lower(${sql.p(term)}::text)`;
  const out = await rows(ctx, sql, `SELECT c.id, c.customer_name AS name,
      (CASE WHEN lower(c.customer_name) = ${t} THEN 1.0 WHEN strpos(lower(c.customer_name), ${t}) = 1 THEN 0.9 ELSE 0.75 END)::float8 AS score
    FROM qbench.customers c WHERE NOT c.deleted AND strpos(lower(c.customer_name), ${t}) > 0
    ORDER BY score DESC, c.id LIMIT ${sql.p(CUSTOMER_MATCH_LIMIT)}::int`);
  return out.map((x) => ({ id: Number(x.id), name: (x.name as string | null) ?? null, score: Number(x.score) }));
}

/** One customer (not deleted) and the database clock, which every figure of a summary is computed against. */
export async function customerById(ctx: Ctx, id: number) {
  const sql = new Sql();
  const [x] = await rows(ctx, sql, `SELECT c.id, c.customer_name AS name, now() AS now FROM qbench.customers c WHERE c.id = ${sql.p(id)}::bigint AND NOT c.deleted`);
  return x ? { id: Number(x.id), name: (x.name as string | null) ?? null, now: x.now as Date } : null;
}

export interface CustomerSummaryParams {
  slaHours: number;
  includeSamples: boolean;
  includeTests: boolean;
  limitOrders: number;
  /** Reference time of ages (the database clock read with the customer). */
  now: Date;
}

/**
 * customers/orders/summary for one customer: its orders CREATED in the range (range rule); open = no
 * date_completed, aged to `now`; ok / warning / overdue by slaStatus; the oldest open orders (ties by id) with
 * their pending samples (no completed_date) and tests (no report_completed_date) when asked; pending totals and
 * the top 5 matrix types / labels over every order of the range. last_order_at ignores the range. Deleted
 * orders, samples and tests never count.
 */
export async function customerOrdersSummary(ctx: Ctx, r: Range, customerId: number, p: CustomerSummaryParams) {
  const orderConds = (sql: Sql) => ['NOT o.deleted', `o.customer_id = ${sql.p(customerId)}::bigint`, ...sql.range('o.date_created', r)];
  const age = (sql: Sql) => `greatest(${hours(`${sql.p(p.now)}::timestamptz - o.date_created`)}, 0)`;

  const sqlA = new Sql();
  const a = orderConds(sqlA);
  const ageA = age(sqlA);
  const slaA = `${sqlA.p(p.slaHours)}::float8`;
  const aggQ = rows(ctx, sqlA, `WITH open AS (SELECT ${ageA} AS age FROM qbench.orders o ${where([...a, 'o.date_completed IS NULL', 'o.date_created IS NOT NULL'])})
    SELECT (SELECT count(*) FROM qbench.orders o ${where(a)})::bigint AS total,
      (SELECT max(o.date_created) FROM qbench.orders o WHERE NOT o.deleted AND o.customer_id = ${sqlA.p(customerId)}::bigint) AS last_order_at,
      count(*)::bigint AS open, count(*) FILTER (WHERE age >= ${slaA})::bigint AS overdue,
      count(*) FILTER (WHERE age < ${slaA} AND age >= ${slaA} * ${sqlA.p(WARNING_RATIO)}::float8)::bigint AS warning, avg(age) AS avg
    FROM open`);

  const sqlL = new Sql();
  const listQ = rows(ctx, sqlL, `SELECT o.id, o.state, o.date_created, ${age(sqlL)} AS age FROM qbench.orders o
    ${where([...orderConds(sqlL), 'o.date_completed IS NULL', 'o.date_created IS NOT NULL'])} ORDER BY age DESC, o.id LIMIT ${sqlL.p(p.limitOrders)}::int`);

  const pendingSamples = (sql: Sql) => `FROM qbench.samples s JOIN qbench.orders o ON o.id = s.order_id
    ${where([...orderConds(sql), 'NOT s.deleted', 's.completed_date IS NULL'])}`;
  const pendingTests = (sql: Sql) => `FROM qbench.tests t JOIN qbench.samples s ON s.id = t.sample_id JOIN qbench.orders o ON o.id = s.order_id
    ${where([...orderConds(sql), 'NOT s.deleted', 'NOT t.deleted', 't.report_completed_date IS NULL'])}`;
  const sqlS = new Sql();
  const samplesQ = p.includeSamples
    ? rows(ctx, sqlS, `SELECT grouping(s.matrix_type) AS g, s.matrix_type AS key, count(*)::bigint AS n ${pendingSamples(sqlS)} GROUP BY GROUPING SETS ((s.matrix_type), ())`)
    : Promise.resolve(null);
  const sqlT = new Sql();
  const testsQ = p.includeTests
    ? rows(ctx, sqlT, `SELECT grouping(t.label_abbr) AS g, t.label_abbr AS key, count(*)::bigint AS n ${pendingTests(sqlT)} GROUP BY GROUPING SETS ((t.label_abbr), ())`)
    : Promise.resolve(null);

  const [[agg], list, sampleGroups, testGroups] = await Promise.all([aggQ, listQ, samplesQ, testsQ]);
  const ids = list.map((x) => Number(x.id));
  const perOrder = async (include: boolean, from: (sql: Sql) => string) => {
    const m = new Map<number, number>();
    if (!include || !ids.length) return m;
    const sql = new Sql();
    const idsP = `${sql.p(ids)}::bigint[]`;
    for (const x of await rows(ctx, sql, `SELECT s.order_id, count(*)::bigint AS n ${from(sql)} AND s.order_id = ANY(${idsP}) GROUP BY s.order_id`)) {
      m.set(Number(x.order_id), num(x.n));
    }
    return m;
  };
  const [samplesPerOrder, testsPerOrder] = await Promise.all([perOrder(p.includeSamples, pendingSamples), perOrder(p.includeTests, pendingTests)]);

  const top = (groups: Record<string, any>[] | null) =>
    (groups ?? []).filter((x) => x.g === 0).map((x) => ({ key: (x.key as string | null) ?? null, n: num(x.n) }))
      .sort((x, y) => y.n - x.n || (x.key === null ? 1 : y.key === null ? -1 : x.key < y.key ? -1 : x.key > y.key ? 1 : 0)).slice(0, 5);
  const total = (groups: Record<string, any>[] | null) => (groups ? num(groups.find((x) => x.g === 1)?.n) : null);
  const avg = numOrNull(agg.avg);
  return {
    last_order_at: iso(agg.last_order_at),
    metrics: {
      total_orders: num(agg.total),
      open_orders: num(agg.open),
      overdue_orders: num(agg.overdue),
      warning_orders: num(agg.warning),
      avg_open_duration_hours: avg === null ? null : Math.round(avg * 100) / 100,
      pending_samples: total(sampleGroups),
      pending_tests: total(testGroups),
      last_updated_at: p.now.toISOString(),
    },
    orders: list.map((x) => {
      const h = num(x.age);
      return {
        order_id: Number(x.id), state: x.state ?? null, age_days: Math.floor(h / 24), sla_status: slaStatus(h, p.slaHours), date_created: iso(x.date_created),
        pending_samples: p.includeSamples ? samplesPerOrder.get(Number(x.id)) ?? 0 : null,
        pending_tests: p.includeTests ? testsPerOrder.get(Number(x.id)) ?? 0 : null,
      };
    }),
    top_pending: p.includeSamples || p.includeTests
      ? {
        matrices: top(sampleGroups).map((x) => ({ matrix_type: x.key, pending_samples: x.n })),
        tests: top(testGroups).map((x) => ({ label_abbr: x.key, pending_tests: x.n })),
      }
      : null,
  };
}
