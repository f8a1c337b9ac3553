/**
 * GET /api/v1/metrics/…: the downloader's dashboard metrics, same paths, parameters and response shapes
 * (qbench-api.md §7). Where the downloader ignored a parameter (summary's sla_hours, tests/tat's hard-coded
 * 48 h) it is honoured here; see api/README.md for every difference.
 */
import type { AppDeps, HandlerInput, RouteDef } from '../http.js';
import {
  LABELS, TAT_BUCKETS, TAT_SAMPLE_TYPES, countCustomers, countSamplesCreated, countTestsCreated, dailySamples, dailyTests,
  filterValues, labelCounts, lastUpdatedAt, newCustomers, reportedStats, reportsOverview, rollupTimezone, samplesOverview,
  syncStatus, tatBreakdown, tatDaily, tatSeries, tatStats, testsOverview, topCustomers, type Ctx, type Filters,
} from '../queries/metrics.js';
import { previousRange, rangeFromQuery, type Range } from '../queries/range.js';

export async function ctxOf(deps: AppDeps): Promise<Ctx> {
  const tz = await rollupTimezone(deps.db.pool);
  return { pool: deps.db.pool, tz: deps.config.timezone, rollups: tz === null || tz === deps.config.timezone };
}

export const filtersOf = (q: Record<string, any>): Filters => ({ customerId: q.customer_id, orderId: q.order_id, state: q.state, batchId: q.batch_id });
export const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);
const sla = (input: HandlerInput): number => input.query.sla_hours ?? input.deps.config.slaHours;
const tz = (input: HandlerInput) => input.deps.config.timezone;

/** Moving average of the last w non-null daily averages, from the w-th one on (null when w <= 1 or none). */
export function movingAverage(points: Array<{ date: string; average_hours: number | null }>, w: number) {
  if (w <= 1) return null;
  const values: number[] = [];
  const out: Array<{ period_start: string; value: number }> = [];
  for (const p of points) {
    if (p.average_hours == null) continue;
    values.push(p.average_hours);
    if (values.length >= w) {
      const win = values.slice(-w);
      out.push({ period_start: p.date, value: win.reduce((a, b) => a + b, 0) / win.length });
    }
  }
  return out.length ? out : null;
}

function combineDaily(samples: Map<string, number>, tests: Map<string, number>, reported: Map<string, number>) {
  const days = [...new Set([...samples.keys(), ...tests.keys(), ...reported.keys()])].sort();
  return days.map((date) => ({ date, samples: samples.get(date) ?? 0, tests: tests.get(date) ?? 0, tests_reported: reported.get(date) ?? 0 }));
}

async function daily(ctx: Ctx, f: Filters, r: Range) {
  const [s, t, rep] = await Promise.all([dailySamples(ctx, f, r), dailyTests(ctx, f, r, 'created'), dailyTests(ctx, f, r, 'reported')]);
  return combineDaily(s, t, rep);
}

const route = (path: string, operationId: string, summary: string, handler: RouteDef['handler'], description?: string): RouteDef => ({
  method: 'get', path: `/api/v1/metrics/${path}`, operationId, summary, description, tag: 'metrics', access: 'token', cache: 'data', handler,
});

export function metricsRoutes(): RouteDef[] {
  return [
    route('summary', 'metrics.summary', 'KPI summary: samples, tests, customers, reports and average TAT in the range', async (input) => {
      const ctx = await ctxOf(input.deps);
      const q = input.query;
      const r = rangeFromQuery(q, tz(input));
      const f = filtersOf(q);
      const [samples, tests, customers, reported, tat3, last] = await Promise.all([
        countSamplesCreated(ctx, f, r),
        countTestsCreated(ctx, f, r),
        countCustomers(ctx, f.customerId, r),
        reportedStats(ctx, f, r, sla(input)),
        reportedStats(ctx, f, r, sla(input), { sampleTypes: TAT_SAMPLE_TYPES, within: false }),
        lastUpdatedAt(ctx),
      ]);
      return {
        kpis: {
          total_samples: samples, total_tests: tests, total_customers: customers, total_reports: reported.reported,
          average_tat_hours: tat3.average, reports_within_sla: reported.within, reports_beyond_sla: reported.beyond,
        },
        sla_hours: sla(input),
        last_updated_at: iso(last),
        range_start: iso(r.from?.instant), range_end: iso(r.to?.instant),
      };
    }, 'Samples and tests by date_created, customers by their date_created, reports (tests) by report_completed_date. average_tat_hours: mean TAT of tests reported in the range whose sample type is Adult Use, AU Cliente R&D or Medical MJ. reports_within_sla / reports_beyond_sla (not in the downloader) split total_reports by sla_hours.'),

    route('activity/daily', 'metrics.activity_daily', 'Samples, tests created and tests reported per lab day', async (input) => {
      const ctx = await ctxOf(input.deps);
      const r = rangeFromQuery(input.query, tz(input));
      const f = filtersOf(input.query);
      const prev = input.query.compare_previous ? previousRange(r, tz(input)) : null;
      const [current, previous] = await Promise.all([daily(ctx, f, r), prev ? daily(ctx, f, prev) : Promise.resolve(null)]);
      return { current, previous };
    }, 'Only days with activity are listed. compare_previous=true (with both dates) adds the previous period of as many days, ending the day before date_from.'),

    route('samples/overview', 'metrics.samples_overview', 'Samples created in the range: totals, by state, by matrix type', async (input) => {
      const ctx = await ctxOf(input.deps);
      const o = await samplesOverview(ctx, filtersOf(input.query), rangeFromQuery(input.query, tz(input)));
      return {
        kpis: { total_samples: o.total, completed_samples: o.completed, pending_samples: o.total - o.completed },
        by_state: o.byState, by_matrix_type: o.byMatrix,
        created_vs_completed: [{ key: 'created', count: o.total }, { key: 'completed', count: o.completed }],
      };
    }),

    route('tests/overview', 'metrics.tests_overview', 'Tests created in the range: totals, by state, by label', async (input) => {
      const ctx = await ctxOf(input.deps);
      const o = await testsOverview(ctx, filtersOf(input.query), rangeFromQuery(input.query, tz(input)));
      return { kpis: { total_tests: o.total, completed_tests: o.completed, pending_tests: o.total - o.completed }, by_state: o.byState, by_label: o.byLabel };
    }),

    route('customers/new', 'metrics.customers_new', 'Customers created in the range, newest first', async (input) => {
      const ctx = await ctxOf(input.deps);
      const rows = await newCustomers(ctx, rangeFromQuery(input.query, tz(input)), input.query.limit);
      return { customers: rows.map((c) => ({ id: Number(c.id), name: c.name, created_at: iso(c.created_at) })) };
    }),

    route('customers/top-tests', 'metrics.customers_top_tests', 'Customers ranked by tests created in the range', async (input) => {
      const ctx = await ctxOf(input.deps);
      return { customers: await topCustomers(ctx, rangeFromQuery(input.query, tz(input)), input.query.limit) };
    }),

    route('tests/tat', 'metrics.tests_tat', 'TAT statistics of tests reported in the range', async (input) => {
      const ctx = await ctxOf(input.deps);
      const r = rangeFromQuery(input.query, tz(input), ['date_created_from', 'date_created_to']);
      const f = filtersOf(input.query);
      const [s, series] = await Promise.all([
        tatStats(ctx, f, r, sla(input)),
        input.query.group_by ? tatSeries(ctx, f, r, input.query.group_by) : Promise.resolve([]),
      ]);
      return {
        metrics: { average_hours: s.average, median_hours: s.median, p95_hours: s.p95, completed_within_sla: s.within, completed_beyond_sla: s.n - s.within },
        distribution: TAT_BUCKETS.map(([label], i) => ({ label, count: s.buckets[i] })),
        series,
        sla_hours: sla(input),
      };
    }, 'As in the downloader, date_created_from/date_created_to filter report_completed_date (the completion), not date_created. The SLA split uses sla_hours (the downloader always used 48).'),

    route('tests/tat-breakdown', 'metrics.tests_tat_breakdown', 'TAT per label of reported tests created in the range', async (input) => {
      const ctx = await ctxOf(input.deps);
      const r = rangeFromQuery(input.query, tz(input), ['date_created_from', 'date_created_to']);
      return { breakdown: await tatBreakdown(ctx, { customerId: input.query.customer_id }, r) };
    }),

    route('tests/label-distribution', 'metrics.tests_label_distribution', 'Tests created in the range per label (16 fixed labels, zero-filled)', async (input) => {
      const ctx = await ctxOf(input.deps);
      const counts = await labelCounts(ctx, filtersOf(input.query), rangeFromQuery(input.query, tz(input)));
      const labels = LABELS.map((label, i) => ({ label, count: counts.get(label) ?? 0, i }));
      labels.sort((a, b) => b.count - a.count || a.i - b.i);
      return { labels: labels.map(({ label, count }) => ({ label, count })) };
    }),

    route('reports/overview', 'metrics.reports_overview', 'Tests in state REPORTED completed in the range, within and beyond the SLA', async (input) => {
      const ctx = await ctxOf(input.deps);
      const o = await reportsOverview(ctx, filtersOf(input.query), rangeFromQuery(input.query, tz(input)), sla(input));
      return { total_reports: o.total, reports_within_sla: o.within, reports_beyond_sla: o.beyond, sla_hours: sla(input) };
    }, 'The state parameter is accepted for compatibility and ignored: the state is always REPORTED (as in the downloader).'),

    route('tests/tat-daily', 'metrics.tests_tat_daily', 'Mean TAT per completion day with a moving average', async (input) => {
      const ctx = await ctxOf(input.deps);
      const points = await tatDaily(ctx, filtersOf(input.query), rangeFromQuery(input.query, tz(input)), sla(input));
      return { points, moving_average_hours: movingAverage(points, input.query.moving_average_window), sla_hours: sla(input) };
    }),

    route('common/filters', 'metrics.common_filters', 'Values for the dashboard filters', async (input) => {
      const ctx = await ctxOf(input.deps);
      const v = await filterValues(ctx);
      return { customers: v.customers.map((c) => ({ id: Number(c.id), name: c.name })), sample_states: v.sampleStates, test_states: v.testStates, last_updated_at: iso(v.lastUpdatedAt) };
    }),

    route('sync/status', 'metrics.sync_status', 'When an entity was last synced', async (input) => {
      const ctx = await ctxOf(input.deps);
      const s = await syncStatus(ctx, input.query.entity);
      return {
        entity: input.query.entity, updated_at: iso(s?.updated_at), checkpoint_status: s?.checkpoint_status ?? null,
        watermark_at: iso(s?.watermark_at), last_success_at: iso(s?.last_success_at),
      };
    }),
  ];
}
