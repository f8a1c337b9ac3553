/** GET /api/v1/analytics/…: order, sample and quality analytics (downloader routers/analytics.py). Typed rows. */
import { badRequest, notFound, type HandlerInput, type RouteDef } from '../http.js';
import {
  customerAlerts, customerById, customerOrdersSummary, findCustomers, ordersFunnel, ordersThroughput, overdueOrders, prioritySlowestOrders, qualityKpis,
  samplesCycleTime, slowestOrders, testsStateDistribution,
} from '../queries/analytics.js';
import { rangeFromQuery } from '../queries/range.js';
import { ctxOf } from './metrics.js';

const sla = (input: HandlerInput): number => input.query.sla_hours ?? input.deps.config.slaHours;
const range = (input: HandlerInput) => rangeFromQuery(input.query, input.deps.config.timezone);

const route = (path: string, operationId: string, summary: string, handler: RouteDef['handler'], description?: string, errors?: number[]): RouteDef => ({
  method: 'get', path: `/api/v1/analytics/${path}`, operationId, summary, description, tag: 'analytics', access: 'token', cache: 'data', clock: true, handler,
  ...(errors ? { errors } : {}),
});

/** Shortest customer_name searched for (after trimming), as the downloader required. */
const MIN_NAME = 3;

/**
 * customers/orders/summary: exactly one of customer_id / customer_name. A name is resolved by findCustomers:
 * match_strategy=all answers the matches only; best takes the first and needs its score >= match_threshold.
 * No customer (or none good enough) is a 404.
 */
async function customerSummary(input: HandlerInput) {
  const q = input.query;
  const hasId = q.customer_id != null;
  const hasName = q.customer_name != null;
  if (hasId === hasName) {
    throw badRequest([hasId
      ? { parameter: 'customer_name', in: 'query', rule: 'oneOf', message: 'give customer_id or customer_name, not both' }
      : { parameter: 'customer_id', in: 'query', rule: 'required', message: 'customer_id or customer_name is required' }]);
  }
  const name = hasName ? String(q.customer_name).trim() : '';
  if (hasName && [...name].length < MIN_NAME) {
    throw badRequest([{ parameter: 'customer_name', in: 'query', rule: 'minLength', message: `must have at least ${MIN_NAME} characters besides spaces` }]);
  }
  const r = range(input);
  const ctx = await ctxOf(input.deps);
  const empty = { matches: null, matched_customer: null, customer: null, metrics: null, orders: null, top_pending: null };
  let id: number;
  let score = 1;
  if (hasId) id = q.customer_id;
  else {
    const matches = await findCustomers(ctx, name);
    if (!matches.length) throw notFound('customer'); // the name is not echoed
    if (q.match_strategy === 'all') {
      return { ...empty, matches: matches.map((m) => ({ id: m.id, name: m.name, alias: null, match_score: m.score })) };
    }
    if (matches[0].score < q.match_threshold) throw notFound(`customer with a match score >= ${q.match_threshold}`);
    id = matches[0].id;
    score = matches[0].score;
  }
  const c = await customerById(ctx, id);
  if (!c) throw notFound(`customer ${id}`);
  const slaHours = sla(input);
  const s = await customerOrdersSummary(ctx, r, c.id, {
    slaHours, includeSamples: q.include_samples, includeTests: q.include_tests, limitOrders: q.limit_orders, now: c.now,
  });
  // The downloader's aliases were [customer name] for every customer (it had no other source of aliases).
  const aliases = c.name != null ? [c.name] : [];
  return {
    ...empty,
    matched_customer: { id: c.id, name: c.name, aliases, match_score: score },
    customer: { id: c.id, name: c.name, primary_alias: aliases[0] ?? null, last_order_at: s.last_order_at, sla_hours: slaHours },
    metrics: s.metrics,
    orders: s.orders,
    top_pending: s.top_pending,
  };
}

export function analyticsRoutes(): RouteDef[] {
  return [
    route('orders/throughput', 'analytics.orders_throughput', 'Orders created and completed per period, with completion times', async (input) =>
      ordersThroughput(await ctxOf(input.deps), range(input), input.query.customer_id, input.query.interval)),
    route('samples/cycle-time', 'analytics.samples_cycle_time', 'Cycle time (completed_date - date_created) of samples completed in the range', async (input) =>
      samplesCycleTime(await ctxOf(input.deps), range(input), {
        customerId: input.query.customer_id, orderId: input.query.order_id, matrixType: input.query.matrix_type, state: input.query.state,
      }, input.query.interval)),
    route('orders/funnel', 'analytics.orders_funnel', 'Orders per lifecycle stage (each stage counted by its own date in the range)', async (input) =>
      ordersFunnel(await ctxOf(input.deps), range(input), input.query.customer_id)),
    route('orders/slowest', 'analytics.orders_slowest', 'Slowest orders created in the range: completion time, or age when still open', async (input) =>
      slowestOrders(await ctxOf(input.deps), range(input), { customerId: input.query.customer_id, state: input.query.state }, input.query.limit)),
    route('priority-orders/slowest', 'analytics.priority_orders_slowest', 'Reported orders ranked by open time (date_order_reported - date_created), with outliers',
      async (input) => prioritySlowestOrders(await ctxOf(input.deps), range(input), {
        customerQuery: input.query.customer_query, minOpenHours: input.query.min_open_hours, lookbackDays: input.query.lookback_days,
        limit: input.query.limit, outlierHours: input.query.outlier_threshold_hours,
      }),
      'Orders whose date_order_reported is in the range (without date_from: from lookback_days before date_to, or before now; without date_to: up to now). ' +
      'customer_query is a customer id or a case-insensitive part of the customer name. Stats cover every matching order; items the slowest `limit`.'),
    route('orders/overdue', 'analytics.orders_overdue', 'Active orders open longer than min_days_overdue at date_to (or now)', async (input) =>
      overdueOrders(await ctxOf(input.deps), range(input), {
        interval: input.query.interval, minDays: input.query.min_days_overdue, warningDays: input.query.warning_window_days, slaHours: sla(input),
        topLimit: input.query.top_limit, clientLimit: input.query.client_limit, warningLimit: input.query.warning_limit,
      })),
    route('customers/alerts', 'analytics.customers_alerts', 'Customers whose tests or orders are on hold, not reportable or beyond the SLA', async (input) =>
      customerAlerts(await ctxOf(input.deps), range(input), input.query.customer_id, input.query.interval, sla(input), input.query.min_alert_percentage)),
    route('customers/orders/summary', 'analytics.customers_orders_summary', 'One customer\'s orders: open, warning (>= 0.75 x SLA) and overdue, oldest open orders, pending samples and tests',
      customerSummary,
      'Exactly one of customer_id or customer_name. A name matches customers whose name contains it (case-insensitive): score 1.0 whole name, ' +
      '0.9 start of it, 0.75 elsewhere. match_strategy=all answers the matches (up to 10, best first) only; best summarises the first, ' +
      'if its score is at least match_threshold. No customer: 404.', [404]),
    route('tests/state-distribution', 'analytics.tests_state_distribution', 'Tests created in the range per period and state', async (input) =>
      testsStateDistribution(await ctxOf(input.deps), range(input), { customerId: input.query.customer_id, orderId: input.query.order_id }, input.query.interval)),
    route('kpis/quality', 'analytics.kpis_quality', 'Quality and SLA KPIs of tests and orders created in the range', async (input) =>
      qualityKpis(await ctxOf(input.deps), range(input), { customerId: input.query.customer_id, orderId: input.query.order_id }, sla(input))),
  ];
}
