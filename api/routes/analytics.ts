/** GET /api/v1/analytics/…: order, sample and quality analytics (downloader routers/analytics.py). Typed rows. */
import type { HandlerInput, RouteDef } from '../http.js';
import {
  customerAlerts, ordersFunnel, ordersThroughput, overdueOrders, prioritySlowestOrders, qualityKpis,
  samplesCycleTime, slowestOrders, testsStateDistribution,
} from '../queries/analytics.js';
import { rangeFromQuery } from '../queries/range.js';
import { ctxOf } from './metrics.js';

const sla = (input: HandlerInput): number => input.query.sla_hours ?? input.deps.config.slaHours;
const range = (input: HandlerInput) => rangeFromQuery(input.query, input.deps.config.timezone);

const route = (path: string, operationId: string, summary: string, handler: RouteDef['handler'], description?: string, errors?: number[]): RouteDef => ({
  method: 'get', path: `/api/v1/analytics/${path}`, operationId, summary, description, tag: 'analytics', access: 'token', cache: 'data', handler,
  ...(errors ? { errors } : {}),
});

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
    route('tests/state-distribution', 'analytics.tests_state_distribution', 'Tests created in the range per period and state', async (input) =>
      testsStateDistribution(await ctxOf(input.deps), range(input), { customerId: input.query.customer_id, orderId: input.query.order_id }, input.query.interval)),
    route('kpis/quality', 'analytics.kpis_quality', 'Quality and SLA KPIs of tests and orders created in the range', async (input) =>
      qualityKpis(await ctxOf(input.deps), range(input), { customerId: input.query.customer_id, orderId: input.query.order_id }, sla(input))),
  ];
}
