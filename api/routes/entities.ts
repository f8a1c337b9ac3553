/**
 * GET /api/v1/entities/…: one record with its relatives (typed tables), 404 with a JSON error when missing;
 * /{kind}/{id}/history: every raw event that carried the record, with the keys that changed between versions.
 * Soft-deleted records are still found (deleted: true), as an audit trail should.
 */
import { HttpError, notFound, type HandlerInput, type RouteDef } from '../http.js';
import {
  batchesOfTest, childrenOf, customerStats, diffRecords, getRow, previousVersion, recentOrders, recordHistory, rowsByIds, type EntityKind,
} from '../queries/entities.js';

const sla = (input: HandlerInput): number => input.query.sla_hours ?? input.deps.config.slaHours;
const hoursSince = (a: Date, b: Date) => (b.getTime() - a.getTime()) / 3_600_000;

/** SLA view of a test: reported → TAT within/beyond; open → age so far, on track / at risk (≥ 75 %) / overdue. */
function testSla(t: Record<string, any>, slaHours: number) {
  if (t.tat_hours != null) return { sla_hours: slaHours, tat_hours: t.tat_hours, status: t.tat_hours <= slaHours ? 'within_sla' : 'beyond_sla' };
  if (!t.date_created) return { sla_hours: slaHours, tat_hours: null, status: 'unknown' };
  const age = hoursSince(t.date_created, new Date());
  return { sla_hours: slaHours, tat_hours: null, age_hours: age, status: age > slaHours ? 'overdue' : age >= 0.75 * slaHours ? 'at_risk' : 'on_track' };
}

function orderSla(o: Record<string, any>, slaHours: number) {
  if (!o.date_created) return { sla_hours: slaHours, status: 'unknown' };
  if (o.date_completed) {
    const h = hoursSince(o.date_created, o.date_completed);
    return { sla_hours: slaHours, completion_hours: h, status: h <= slaHours ? 'within_sla' : 'beyond_sla' };
  }
  const age = hoursSince(o.date_created, new Date());
  return { sla_hours: slaHours, age_hours: age, status: age > slaHours ? 'overdue' : age >= 0.75 * slaHours ? 'at_risk' : 'on_track' };
}

async function need(input: HandlerInput, kind: EntityKind, singular: string) {
  const row = await getRow(input.deps.db.pool, kind, input.params.id);
  if (!row) throw notFound(`${singular} ${input.params.id}`);
  return row;
}

const route = (path: string, operationId: string, summary: string, handler: RouteDef['handler'], cache: 'data' | 'raw' = 'data'): RouteDef => ({
  // The sla views of open tests and orders age with the clock (history, cache 'raw', has none).
  method: 'get', path: `/api/v1/entities/${path}`, operationId, summary, tag: 'entities', access: 'token', cache, clock: cache === 'data', errors: [404], handler,
});

async function sampleFull(input: HandlerInput, full: boolean) {
  const pool = input.deps.db.pool;
  const sample = await need(input, 'samples', 'sample');
  const q = input.query;
  const out: Record<string, unknown> = { sample };
  if (full || q.include_tests) {
    out.tests = (await childrenOf(pool, 'tests', 'sample_id', [sample.id])).map((t) => ({ ...t, sla: testSla(t, sla(input)) }));
  }
  if (full || q.include_batches) out.batches = await rowsByIds(pool, 'batches', sample.batch_ids);
  if (full) {
    const order = sample.order_id != null ? await getRow(pool, 'orders', sample.order_id, false) : undefined;
    out.order = order ? { ...order, sla: orderSla(order, sla(input)) } : null;
    out.customer = order?.customer_id != null ? ((await getRow(pool, 'customers', order.customer_id, false)) ?? null) : null;
    out.reports = await childrenOf(pool, 'reports', 'sample_id', [sample.id]);
  }
  return out;
}

async function testFull(input: HandlerInput, full: boolean) {
  const pool = input.deps.db.pool;
  const test = await need(input, 'tests', 'test');
  const q = input.query;
  const out: Record<string, unknown> = { test: { ...test, sla: testSla(test, sla(input)) } };
  const sample = (full || q.include_sample || q.include_order) && test.sample_id != null ? await getRow(pool, 'samples', test.sample_id, false) : undefined;
  if (full || q.include_sample) out.sample = sample ?? null;
  if (full || q.include_order) {
    const order = sample?.order_id != null ? await getRow(pool, 'orders', sample.order_id, false) : undefined;
    out.order = order ? { ...order, sla: orderSla(order, sla(input)) } : null;
    if (full) out.customer = order?.customer_id != null ? ((await getRow(pool, 'customers', order.customer_id, false)) ?? null) : null;
  }
  if (full || q.include_batches) out.batches = await batchesOfTest(pool, test.id, test.batch_ids);
  if (full) {
    out.assay = test.assay_id != null ? ((await getRow(pool, 'assays', test.assay_id, false)) ?? null) : null;
    out.reports = (await childrenOf(pool, 'reports', 'test_id', [test.id]));
  }
  return out;
}

export function entityRoutes(): RouteDef[] {
  return [
    route('orders/{id}', 'entities.order', 'One order with its customer, samples and (optionally) tests', async (input) => {
      const pool = input.deps.db.pool;
      const order = await need(input, 'orders', 'order');
      const out: Record<string, unknown> = {
        order: { ...order, sla: orderSla(order, sla(input)) },
        customer: order.customer_id != null ? ((await getRow(pool, 'customers', order.customer_id, false)) ?? null) : null,
      };
      if (input.query.include_samples || input.query.include_tests) {
        const samples = await childrenOf(pool, 'samples', 'order_id', [order.id]);
        if (input.query.include_tests) {
          const tests = await childrenOf(pool, 'tests', 'sample_id', samples.map((s) => s.id));
          const bySample = new Map<number, unknown[]>();
          for (const t of tests) bySample.set(t.sample_id, [...(bySample.get(t.sample_id) ?? []), { ...t, sla: testSla(t, sla(input)) }]);
          out.samples = samples.map((s) => ({ ...s, tests: bySample.get(s.id) ?? [] }));
        } else out.samples = samples;
      }
      return out;
    }),
    route('samples/{id}', 'entities.sample', 'One sample, optionally with its tests and batches', (input) => sampleFull(input, false)),
    route('samples/{id}/full', 'entities.sample_full', 'One sample with its order, customer, tests, batches and reports', (input) => sampleFull(input, true)),
    route('tests/{id}', 'entities.test', 'One test with its SLA status, optionally with its sample, order and batches', (input) => testFull(input, false)),
    route('tests/{id}/full', 'entities.test_full', 'One test with its sample, order, customer, batches, assay and reports', (input) => testFull(input, true)),
    route('customers/{id}', 'entities.customer', 'One customer with order counts and the most recent orders', async (input) => {
      const pool = input.deps.db.pool;
      const customer = await need(input, 'customers', 'customer');
      const [stats, recent] = await Promise.all([customerStats(pool, customer.id), recentOrders(pool, customer.id, input.query.recent_orders)]);
      return { customer, stats, recent_orders: recent };
    }),
    route('{kind}/{id}/history', 'entities.history', 'Every raw event that carried the record, with the keys changed between consecutive versions', async (input) => {
      const pool = input.deps.db.pool;
      const kind = input.params.kind as EntityKind;
      const id = input.params.id as number;
      const events = await recordHistory(pool, kind, id, input.query.limit + 1, input.query.after_fetch_id);
      const more = events.length > input.query.limit;
      if (more) events.pop();
      if (!events.length && input.query.after_fetch_id === 0) throw notFound(`${kind} ${id} in the raw landing`);
      let prev = input.query.after_fetch_id > 0 ? await previousVersion(pool, kind, id, input.query.after_fetch_id) : undefined;
      const out = events.map((e) => {
        const changes = prev ? diffRecords(prev, e.record) : null;
        prev = e.record;
        return {
          fetch_id: e.fetch_id, run_id: e.run_id, fetch_kind: e.fetch_kind, endpoint: e.endpoint, page_number: e.page_number,
          fetched_at: e.fetched_at, changed: changes === null ? true : changes.length > 0, changes,
          ...(input.query.include_records ? { record: e.record } : {}),
        };
      });
      return {
        kind, id, events: out, versions: out.filter((e) => e.changed).length,
        next_after_fetch_id: more ? out[out.length - 1].fetch_id : null,
      };
    }, 'raw'),
  ];
}

export { HttpError };
