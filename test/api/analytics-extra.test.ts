/**
 * analytics/priority-orders/slowest and analytics/customers/orders/summary (the downloader's last two analytics
 * endpoints) against an INDEPENDENT computation in plain TypeScript from the simulator's truth objects (QBench
 * date strings parsed here, the downloader's rules applied here), over a real sync into a real Postgres and the
 * API over HTTP: windows and lookback, filters, ties, outliers, name matching (best / all / threshold), SLA
 * classes, pending samples and tests, deleted rows, and bad input (400 naming the parameter).
 */
import { expect } from 'chai';
import { parseQbDate } from '../../sim/index.js';
import { responseErrors } from '../../api/index.js';
import { openTimeLabel, roundHalfEven } from '../../api/queries/analytics.js';
import { apiFixture, type ApiFixture } from './fixture.js';

type Rec = Record<string, any>;
const H = 3600;
const DAY = 86400;

const ts = (v: unknown): number | null => (typeof v === 'string' && v ? parseQbDate(v) : null);
const isoOf = (s: number | null) => (s === null ? null : new Date(s * 1000).toISOString());
/** A query date as the API reads it with QBSYNC_TIMEZONE=UTC: date-only = midnight, no offset = UTC. */
const parseParam = (v: string) => Date.parse(/T/.test(v) ? (/(Z|[+-]\d\d:?\d\d)$/.test(v) ? v : `${v}Z`) : `${v}T00:00:00Z`) / 1000;
const isMidnight = (s: number) => s % DAY === 0;
const qs = (o: Record<string, unknown>) =>
  Object.entries(o).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`).join('&');
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
/** PostgreSQL's percentile_cont: linear interpolation between the sorted values around (n − 1) · p. */
function percentileCont(v: number[], p: number): number {
  const s = [...v].sort((a, b) => a - b);
  const pos = (s.length - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
const near = (a: unknown, b: number | null, what: string) => {
  if (b === null) return expect(a, what).to.equal(null);
  expect(a, what).to.be.a('number');
  expect(a as number, what).to.be.closeTo(b, Math.max(1e-6, Math.abs(b) * 1e-9));
};
/** The downloader's label, written here the other way round: Math.round, then back one when it rounded a .5 to odd. */
function label(h: number): string {
  const x = Math.max(0, h);
  let r = Math.round(x);
  if (x - Math.floor(x) === 0.5 && r % 2 === 1) r -= 1;
  const d = Math.trunc(r / 24);
  return d > 0 ? `${d}d ${r - d * 24}h` : `${r}h`;
}

interface Order {
  id: number;
  customerId: number;
  ref: string;
  state: string | null;
  created: number | null;
  completed: number | null;
  reported: number | null;
  sampleCount: number;
  testCount: number;
}

describe('api: analytics priority-orders/slowest and customers/orders/summary equal an independent computation', function () {
  this.timeout(180_000);
  let f: ApiFixture;
  let customers: Map<number, Rec>;
  let orders: Order[];
  let samples: Rec[];
  let tests: Rec[];

  before(async () => {
    f = await apiFixture({ size: 'small', seed: 11 });
    const sim = f.sim!;
    customers = new Map(sim.truth.ids('customer').map((id) => [id, sim.truth.get('customer', id)!] as [number, Rec]));
    orders = sim.truth.ids('order').map((id) => {
      const o = sim.truth.get('order', id)! as Rec;
      return {
        id, customerId: Number(o.customer_account_id), ref: o.custom_formatted_id ?? `ORD-${id}`, state: o.state ?? null,
        created: ts(o.date_created), completed: ts(o.date_completed), reported: ts(o.date_order_reported),
        sampleCount: o.sample_count ?? 0, testCount: o.test_count ?? 0,
      };
    });
    samples = sim.truth.ids('sample').map((id) => sim.truth.get('sample', id)! as Rec);
    tests = sim.truth.ids('test').map((id) => sim.truth.get('test', id)! as Rec);
  });
  after(() => f?.close());

  async function get(path: string, op: string) {
    const r = await f.get(path);
    expect(r.status, `${path}: ${r.text}`).to.equal(200);
    expect(responseErrors(op, r.body), `${path} response schema`).to.deep.equal([]);
    return r.body;
  }
  async function bad(path: string, parameter: string, status = 400) {
    const r = await f.get(path);
    expect(r.status, `${path}: ${r.text}`).to.equal(status);
    expect(r.headers.get('content-type')).to.match(/application\/json/);
    expect(r.body.error).to.equal(status === 400 ? 'invalid_request' : 'not_found');
    if (status === 400) expect(r.body.details.map((d: Rec) => d.parameter), path).to.include(parameter);
    return r.body;
  }
  const customerName = (id: number): string | null => customers.get(id)?.customer_name ?? null;

  // ------------------------------------------------------------------------------------------ priority

  const PRIORITY = '/api/v1/analytics/priority-orders/slowest';
  const P_OP = 'analytics.priority_orders_slowest';

  interface PQ { date_from?: string; date_to?: string; customer_query?: string; min_open_hours?: number; lookback_days?: number; limit?: number; outlier_threshold_hours?: number }

  /** The downloader's rules, applied to the truth. `now` in seconds. */
  function expectedPriority(q: PQ, now: number) {
    const lookback = q.lookback_days ?? 30;
    const to = q.date_to !== undefined ? parseParam(q.date_to) : null;
    const lo = q.date_from !== undefined ? parseParam(q.date_from) : (to ?? now) - lookback * DAY;
    const inWindow = (s: number) => s >= lo && (to === null ? s <= now : isMidnight(to) ? s < to + DAY : s <= to);
    const term = (q.customer_query ?? '').trim();
    const matchesCustomer = (o: Order) => {
      if (!term) return true;
      if (/^[0-9]+$/.test(term) && o.customerId === Number(term)) return true;
      const name = customerName(o.customerId);
      return name !== null && name.toLowerCase().includes(term.toLowerCase());
    };
    const min = q.min_open_hours ?? 0;
    const threshold = q.outlier_threshold_hours ?? 120;
    const kept = orders
      .filter((o) => o.reported !== null && o.created !== null && inWindow(o.reported) && matchesCustomer(o))
      .map((o) => ({ o, open: Math.max(0, (o.reported! - o.created!) / H) }))
      .filter((x) => x.open >= min);
    const open = kept.map((x) => x.open);
    kept.sort((a, b) => b.open - a.open || b.o.reported! - a.o.reported! || a.o.id - b.o.id);
    return {
      stats: {
        total_orders: kept.length,
        average_open_hours: open.length ? mean(open) : null,
        percentile_95_open_hours: open.length ? percentileCont(open, 0.95) : null,
        threshold_hours: threshold,
      },
      items: kept.slice(0, q.limit ?? 25).map(({ o, open: h }) => ({
        order_id: o.id, order_reference: o.ref, customer_name: customerName(o.customerId), date_created: isoOf(o.created), date_reported: isoOf(o.reported),
        samples_count: o.sampleCount, tests_count: o.testCount, open_time_hours: h, open_time_label: label(h), is_outlier: h >= threshold,
      })),
    };
  }

  async function checkPriority(q: PQ, what: string) {
    const now = Date.now() / 1000;
    const body = await get(`${PRIORITY}?${qs(q as Rec)}`, P_OP);
    const exp = expectedPriority(q, now);
    expect(body.stats.total_orders, `${what}: total`).to.equal(exp.stats.total_orders);
    near(body.stats.average_open_hours, exp.stats.average_open_hours, `${what}: average`);
    near(body.stats.percentile_95_open_hours, exp.stats.percentile_95_open_hours, `${what}: p95`);
    expect(body.stats.threshold_hours).to.equal(exp.stats.threshold_hours);
    const strip = (x: Rec) => ({ ...x, open_time_hours: Math.round(x.open_time_hours * 1e6) / 1e6 });
    expect(body.items.map(strip), `${what}: items`).to.deep.equal(exp.items.map(strip));
    body.items.forEach((x: Rec, i: number) => near(x.open_time_hours, exp.items[i].open_time_hours, `${what}: open hours of ${x.order_id}`));
    return body;
  }

  it('open-time labels round half to even as Python did ("5d 2h"), never below 0h', () => {
    expect(openTimeLabel(122)).to.equal('5d 2h');
    expect(openTimeLabel(2.5)).to.equal('2h');
    expect(openTimeLabel(3.5)).to.equal('4h');
    expect(openTimeLabel(23.5)).to.equal('1d 0h');
    expect(openTimeLabel(24)).to.equal('1d 0h');
    expect(openTimeLabel(0.4)).to.equal('0h');
    expect(openTimeLabel(-15)).to.equal('0h');
    expect(roundHalfEven(0.5)).to.equal(0);
    expect(roundHalfEven(1.5)).to.equal(2);
    for (let h = 0; h < 400; h += 0.25) expect(openTimeLabel(h), String(h)).to.equal(label(h));
  });

  it('priority-orders/slowest: explicit whole-day range, stats over every order, the slowest 25 items, outliers', async () => {
    const body = await checkPriority({ date_from: '2026-06-01', date_to: '2026-08-31' }, 'jun-aug');
    expect(body.stats.total_orders).to.be.greaterThan(25);
    expect(body.items).to.have.length(25);
    expect(body.items.some((x: Rec) => x.is_outlier)).to.equal(true);
  });

  it('priority-orders/slowest: an order reported (date-only) on the day it was created is open 0 h, not a negative time', async () => {
    const wide = await get(`${PRIORITY}?date_from=2026-06-01&date_to=2026-08-31`, P_OP);
    const victim = wide.items[0];
    const day = victim.date_reported.slice(0, 10);
    const q = { date_from: day, date_to: day, limit: 100 };
    const before = await checkPriority(q, 'one report day');
    expect(before.items[0].order_id).to.equal(victim.order_id);
    expect(before.stats.total_orders).to.be.at.most(100);
    // Created late on its report day: report day (midnight) - creation = -20 h, which the downloader returned as such.
    await f.db.pool.query(`UPDATE qbench.orders SET date_created = date_order_reported + interval '20 hours' WHERE id = $1`, [victim.order_id]);
    try {
      const after = await get(`${PRIORITY}?${qs(q)}`, P_OP);
      expect(after.stats.total_orders).to.equal(before.stats.total_orders);
      const rest = before.items.slice(1);
      const x = after.items.at(-1);
      expect([x.order_id, x.open_time_hours, x.open_time_label, x.is_outlier], 'last, at 0 h').to.deep.equal([victim.order_id, 0, '0h', false]);
      expect(after.items.slice(0, -1).map((i: Rec) => i.order_id)).to.deep.equal(rest.map((i: Rec) => i.order_id));
      near(after.stats.average_open_hours, mean([...rest.map((i: Rec) => i.open_time_hours), 0]), 'mean with 0 for that order');
      const positive = await get(`${PRIORITY}?${qs({ ...q, min_open_hours: 0.01 })}`, P_OP);
      expect(positive.stats.total_orders).to.equal(before.stats.total_orders - 1);
    } finally {
      await f.db.pool.query(`UPDATE qbench.orders SET date_created = $2 WHERE id = $1`, [victim.order_id, new Date(Date.parse(victim.date_created))]);
    }
    expect(await get(`${PRIORITY}?${qs(q)}`, P_OP)).to.deep.equal(before);
  });

  it('priority-orders/slowest: date_to alone (midnight and time of day) starts lookback_days before it; date_from alone ends now; no range: the last 30 days', async () => {
    await checkPriority({ date_to: '2026-09-30', lookback_days: 10 }, 'to midnight, 10 days');
    await checkPriority({ date_to: '2026-09-30T12:00:00Z' }, 'to with a time, 30 days');
    await checkPriority({ date_to: '2026-10-15', lookback_days: 90, limit: 100 }, '90 days');
    await checkPriority({ date_from: '2026-10-01' }, 'from alone');
    await checkPriority({}, 'defaults');
    // lookback_days is ignored when date_from is given.
    const a = await get(`${PRIORITY}?date_from=2026-07-01&date_to=2026-07-31&lookback_days=1`, P_OP);
    const b = await get(`${PRIORITY}?date_from=2026-07-01&date_to=2026-07-31`, P_OP);
    expect(a).to.deep.equal(b);
    // The midnight rule: date_to 2026-07-31 covers that day (reports are date-only, at midnight); 2026-07-30T23:59:59Z does not.
    const c = await checkPriority({ date_from: '2026-07-01', date_to: '2026-07-30T23:59:59Z', limit: 100 }, 'one second before midnight');
    const lastDay = orders.filter((o) => o.reported === Date.UTC(2026, 6, 31) / 1000 && o.created !== null).length;
    expect(lastDay, 'orders reported on 2026-07-31').to.be.greaterThan(0);
    expect(b.stats.total_orders - c.stats.total_orders).to.equal(lastDay);
  });

  it('priority-orders/slowest: customer_query by name part (any case), by id, blank, and wildcard characters taken literally', async () => {
    const busy = [...orders.filter((o) => o.reported !== null).reduce((m, o) => m.set(o.customerId, (m.get(o.customerId) ?? 0) + 1), new Map<number, number>())]
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
    const name = customerName(busy)!;
    const part = name.slice(1, Math.min(name.length, 8)).toUpperCase();
    const range = { date_from: '2026-01-01', date_to: '2026-11-30' };
    const byName = await checkPriority({ ...range, customer_query: part }, `name part ${part}`);
    expect(byName.stats.total_orders).to.be.greaterThan(0);
    const byId = await checkPriority({ ...range, customer_query: String(busy), limit: 100 }, 'id');
    expect(byId.stats.total_orders).to.be.greaterThan(0);
    expect(byId.items.every((x: Rec) => x.customer_name === name || x.customer_name?.includes(String(busy)))).to.equal(true);
    const all = await checkPriority(range, 'no customer');
    expect(await get(`${PRIORITY}?${qs({ ...range, customer_query: '   ' })}`, P_OP)).to.deep.equal(all);
    // A LIKE pattern would have matched every name with '%' or '_'; the query is plain text.
    for (const w of ['%', '_', '%a%', '\\']) {
      const r = await checkPriority({ ...range, customer_query: w }, `literal ${w}`);
      expect(r.stats.total_orders, w).to.equal(0);
    }
  });

  it('priority-orders/slowest: min_open_hours, limit and outlier_threshold_hours', async () => {
    const range = { date_from: '2026-03-01', date_to: '2026-10-31' };
    const b = await checkPriority({ ...range, min_open_hours: 100, limit: 7, outlier_threshold_hours: 150 }, 'min 100');
    expect(b.items).to.have.length(7);
    expect(b.items.every((x: Rec) => x.open_time_hours >= 100)).to.equal(true);
    const hours = b.items.map((x: Rec) => x.open_time_hours);
    expect(b.items.filter((x: Rec) => x.is_outlier)).to.have.length(hours.filter((h: number) => h >= 150).length);
    await checkPriority({ ...range, min_open_hours: 0.5, limit: 100, outlier_threshold_hours: 0 }, 'threshold 0: every item an outlier');
    await checkPriority({ ...range, min_open_hours: 99999 }, 'none left');
    const none = await get(`${PRIORITY}?${qs({ ...range, min_open_hours: 99999 })}`, P_OP);
    expect(none).to.deep.equal({ stats: { total_orders: 0, average_open_hours: null, percentile_95_open_hours: null, threshold_hours: 120 }, items: [] });
  });

  it('priority-orders/slowest: a deleted order is left out of the items and the stats', async () => {
    const q = { date_from: '2026-06-01', date_to: '2026-08-31' };
    const before = await get(`${PRIORITY}?${qs(q)}`, P_OP);
    const victim = before.items[0].order_id;
    await f.db.pool.query('UPDATE qbench.orders SET deleted = true WHERE id = $1', [victim]);
    try {
      const after = await get(`${PRIORITY}?${qs(q)}`, P_OP);
      expect(after.stats.total_orders).to.equal(before.stats.total_orders - 1);
      expect(after.items.map((x: Rec) => x.order_id)).to.not.include(victim);
      expect(after.items[0].order_id).to.equal(before.items[1].order_id);
    } finally {
      await f.db.pool.query('UPDATE qbench.orders SET deleted = false WHERE id = $1', [victim]);
    }
  });

  it('priority-orders/slowest: bad input is a 400 naming the parameter', async () => {
    await bad(`${PRIORITY}?limit=0`, 'limit');
    await bad(`${PRIORITY}?limit=101`, 'limit');
    await bad(`${PRIORITY}?lookback_days=0`, 'lookback_days');
    await bad(`${PRIORITY}?lookback_days=91`, 'lookback_days');
    await bad(`${PRIORITY}?lookback_days=1.5`, 'lookback_days');
    await bad(`${PRIORITY}?min_open_hours=-1`, 'min_open_hours');
    await bad(`${PRIORITY}?outlier_threshold_hours=abc`, 'outlier_threshold_hours');
    await bad(`${PRIORITY}?date_from=2026-05-01&date_to=2026-04-01`, 'date_to');
    await bad(`${PRIORITY}?date_to=2026-02-30`, 'date_to');
    await bad(`${PRIORITY}?customer_query=${'x'.repeat(201)}`, 'customer_query');
    await bad(`${PRIORITY}?state=REPORTED`, 'state');
  });

  // ------------------------------------------------------------------------------------------ summary

  const SUMMARY = '/api/v1/analytics/customers/orders/summary';
  const S_OP = 'analytics.customers_orders_summary';

  interface SQ { date_from?: string; date_to?: string; sla_hours?: number; include_samples?: boolean; include_tests?: boolean; limit_orders?: number }

  /** Customers whose name contains the term, scored 1 / 0.9 / 0.75, best first, ties by id, 10 at most. */
  function expectedMatches(term: string) {
    const t = term.trim().toLowerCase();
    const out: Array<{ id: number; name: string; alias: null; match_score: number }> = [];
    for (const [id, c] of customers) {
      const n = String(c.customer_name ?? '').toLowerCase();
      if (!c.customer_name || n.indexOf(t) < 0) continue;
      out.push({ id, name: c.customer_name, alias: null, match_score: n === t ? 1 : n.indexOf(t) === 0 ? 0.9 : 0.75 });
    }
    return out.sort((a, b) => b.match_score - a.match_score || a.id - b.id).slice(0, 10);
  }

  function inRange(q: SQ) {
    const lo = q.date_from !== undefined ? parseParam(q.date_from) : null;
    const hi = q.date_to !== undefined ? parseParam(q.date_to) : null;
    return (s: number | null) => {
      if (s === null) return lo === null && hi === null;
      if (lo !== null && s < lo) return false;
      if (hi !== null) return isMidnight(hi) ? s < hi + DAY : s <= hi;
      return true;
    };
  }

  /** The summary of one customer, ages to `now` (seconds; the answer's last_updated_at, the clock the server read). */
  function expectedSummary(customerId: number, q: SQ, now: number) {
    const sla = q.sla_hours ?? 48;
    const r = inRange(q);
    const mine = orders.filter((o) => o.customerId === customerId);
    const ranged = mine.filter((o) => r(o.created));
    const open = ranged.filter((o) => o.completed === null && o.created !== null).map((o) => ({ o, age: Math.max(0, (now - o.created!) / H) }));
    const cls = (age: number) => (age >= sla ? 'overdue' : age >= 0.75 * sla ? 'warning' : 'ok');
    open.sort((a, b) => b.age - a.age || a.o.id - b.o.id);
    const orderIds = new Set(ranged.map((o) => o.id));
    const pendingSamples = samples.filter((s) => orderIds.has(Number(s.order_id)) && !s.completed_date);
    const sampleOrder = new Map(samples.map((s) => [Number(s.id), Number(s.order_id)]));
    const pendingTests = tests.filter((t) => orderIds.has(sampleOrder.get(Number(t.sample_id)) ?? -1) && !t.report_completed_date);
    const count = <T>(xs: T[], key: (x: T) => string | null) => {
      const m = new Map<string | null, number>();
      for (const x of xs) m.set(key(x), (m.get(key(x)) ?? 0) + 1);
      return [...m].sort((a, b) => b[1] - a[1] || (a[0] === null ? 1 : b[0] === null ? -1 : a[0] < b[0] ? -1 : 1)).slice(0, 5);
    };
    const createdAll = mine.map((o) => o.created).filter((x): x is number => x !== null);
    const name = customerName(customerId);
    const ages = open.map((x) => x.age);
    return {
      customer: { id: customerId, name, primary_alias: name, last_order_at: createdAll.length ? isoOf(Math.max(...createdAll)) : null, sla_hours: sla },
      metrics: {
        total_orders: ranged.length,
        open_orders: open.length,
        overdue_orders: open.filter((x) => cls(x.age) === 'overdue').length,
        warning_orders: open.filter((x) => cls(x.age) === 'warning').length,
        avg_open_duration_hours: ages.length ? mean(ages) : null,
        pending_samples: q.include_samples ? pendingSamples.length : null,
        pending_tests: q.include_tests ? pendingTests.length : null,
      },
      orders: open.slice(0, q.limit_orders ?? 20).map(({ o, age }) => ({
        order_id: o.id, state: o.state, age_days: Math.floor(age / 24), sla_status: cls(age), date_created: isoOf(o.created),
        pending_samples: q.include_samples ? pendingSamples.filter((s) => Number(s.order_id) === o.id).length : null,
        pending_tests: q.include_tests ? pendingTests.filter((t) => sampleOrder.get(Number(t.sample_id)) === o.id).length : null,
      })),
      top_pending: q.include_samples || q.include_tests
        ? {
          matrices: q.include_samples ? count(pendingSamples, (s) => s.matrix_type ?? null).map(([k, n]) => ({ matrix_type: k, pending_samples: n })) : [],
          tests: q.include_tests ? count(pendingTests, (t) => t.label_abbr ?? t.assay?.label_abbr ?? null).map(([k, n]) => ({ label_abbr: k, pending_tests: n })) : [],
        }
        : null,
    };
  }

  function checkSummary(body: Rec, customerId: number, q: SQ, score: number, what: string) {
    const now = Date.parse(body.metrics.last_updated_at) / 1000;
    expect(Math.abs(now - Date.now() / 1000), `${what}: last_updated_at is the server's clock`).to.be.below(120);
    const exp = expectedSummary(customerId, q, now);
    const name = customerName(customerId);
    expect(body.matches, what).to.equal(null);
    expect(body.matched_customer, what).to.deep.equal({ id: customerId, name, aliases: [name], match_score: score });
    expect(body.customer, what).to.deep.equal(exp.customer);
    const { avg_open_duration_hours: avg, last_updated_at: _at, ...rest } = body.metrics;
    const { avg_open_duration_hours: expAvg, ...expRest } = exp.metrics;
    expect(rest, `${what}: metrics`).to.deep.equal(expRest);
    if (expAvg === null) expect(avg).to.equal(null);
    else expect(avg, `${what}: average open hours, 2 decimals`).to.be.closeTo(expAvg, 0.0051);
    expect(body.orders, `${what}: orders`).to.deep.equal(exp.orders);
    expect(body.top_pending, `${what}: top pending`).to.deep.equal(exp.top_pending);
  }

  /** The customer with the most open orders (ties: lowest id). */
  function busiestOpen(): number {
    const m = new Map<number, number>();
    for (const o of orders) if (o.completed === null && o.created !== null) m.set(o.customerId, (m.get(o.customerId) ?? 0) + 1);
    return [...m].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
  }

  it('customers/orders/summary by customer_id: defaults, then a range, an SLA that splits ok / warning / overdue, pending samples and tests', async () => {
    const id = busiestOpen();
    const a = await get(`${SUMMARY}?customer_id=${id}`, S_OP);
    checkSummary(a, id, {}, 1, 'defaults');
    expect(a.metrics.open_orders).to.be.greaterThan(3);
    expect(a.top_pending).to.equal(null);
    expect(a.orders.every((o: Rec) => o.pending_samples === null && o.pending_tests === null)).to.equal(true);

    // An SLA between the open orders' ages, so each class has members.
    const now = Date.parse(a.metrics.last_updated_at) / 1000;
    const ages = orders.filter((o) => o.customerId === id && o.completed === null && o.created !== null).map((o) => (now - o.created!) / H).sort((x, y) => x - y);
    const sla = Math.round(ages[Math.floor(ages.length / 2)] * 1.1 * 100) / 100;
    const q: SQ = { sla_hours: sla, include_samples: true, include_tests: true, limit_orders: 3 };
    const b = await get(`${SUMMARY}?customer_id=${id}&${qs(q as Rec)}`, S_OP);
    checkSummary(b, id, q, 1, `sla ${sla}`);
    expect(b.orders).to.have.length(3);
    expect(b.metrics.overdue_orders, 'overdue').to.be.greaterThan(0);
    expect(b.metrics.open_orders - b.metrics.overdue_orders - b.metrics.warning_orders, 'ok').to.be.greaterThan(0);
    expect(b.metrics.pending_samples).to.be.greaterThan(0);
    expect(b.metrics.pending_tests).to.be.greaterThan(0);
    expect(b.top_pending.matrices.length).to.be.greaterThan(0);

    for (const [from, to] of [['2026-09-01', '2026-11-30'], ['2026-10-01T06:00:00Z', '2026-11-15T18:30:00Z'], [undefined, '2026-10-31']]) {
      const r: SQ = { date_from: from, date_to: to, include_tests: true, limit_orders: 100 };
      checkSummary(await get(`${SUMMARY}?customer_id=${id}&${qs(r as Rec)}`, S_OP), id, r, 1, `range ${from}..${to}`);
    }
    // A sample-only include: tests stay null, top_pending.tests empty.
    const s: SQ = { include_samples: true, sla_hours: 1000 };
    checkSummary(await get(`${SUMMARY}?customer_id=${id}&${qs(s as Rec)}`, S_OP), id, s, 1, 'samples only, long SLA');
    // The midnight rule on date_created: date_to 2026-10-31 covers the day, like 2026-10-31T23:59:59.
    const m1 = await get(`${SUMMARY}?customer_id=${id}&date_to=2026-10-31`, S_OP);
    const m2 = await get(`${SUMMARY}?customer_id=${id}&date_to=2026-10-31T23:59:59.999Z`, S_OP);
    expect(m1.metrics.total_orders).to.equal(m2.metrics.total_orders);
  });

  it('customers/orders/summary by customer_name: an exact name is score 1.0 and the same summary as by id', async () => {
    const id = busiestOpen();
    const name = customerName(id)!;
    // Another customer with the very same name would make the lowest id win: the test picks one whose name is unique.
    expect([...customers.values()].filter((c) => c.customer_name?.toLowerCase() === name.toLowerCase()).length).to.equal(1);
    const q: SQ = { include_samples: true, include_tests: true };
    const body = await get(`${SUMMARY}?${qs({ customer_name: `  ${name.toUpperCase()} `, ...q })}`, S_OP);
    checkSummary(body, id, q, 1, 'exact name');
  });

  it('customers/orders/summary: an ambiguous name part lists every match with match_strategy=all and takes the best (then lowest id) with best', async () => {
    // A part that starts some names and sits inside others, so the scores differ.
    const candidates = ['green', 'labs', 'farms', 'canna', 'ever', 'herb'];
    let term = '';
    for (const c of candidates) {
      const m = expectedMatches(c);
      if (m.length >= 3 && new Set(m.map((x) => x.match_score)).size >= 2) {
        term = c;
        break;
      }
    }
    expect(term, 'an ambiguous term in the data').to.not.equal('');
    const exp = expectedMatches(term);
    const all = await get(`${SUMMARY}?customer_name=${term.toUpperCase()}&match_strategy=all`, S_OP);
    expect(all).to.deep.equal({ matches: exp, matched_customer: null, customer: null, metrics: null, orders: null, top_pending: null });
    const best = await get(`${SUMMARY}?customer_name=${term}`, S_OP);
    checkSummary(best, exp[0].id, {}, exp[0].match_score, `best of ${term}`);
    // Two customers with the very same name: both score 1.0, best takes the lower id.
    const byName = new Map<string, number[]>();
    for (const [id, c] of customers) byName.set(String(c.customer_name).toLowerCase(), [...(byName.get(String(c.customer_name).toLowerCase()) ?? []), id]);
    const twin = [...byName].find(([, ids]) => ids.length > 1);
    expect(twin, 'two customers with one name').to.not.equal(undefined);
    const [twinName, twinIds] = twin!;
    const twins = await get(`${SUMMARY}?${qs({ customer_name: twinName, match_strategy: 'all' })}`, S_OP);
    expect(twins.matches.filter((m: Rec) => m.match_score === 1).map((m: Rec) => m.id)).to.deep.equal([...twinIds].sort((a, b) => a - b));
    expect(twins.matches).to.deep.equal(expectedMatches(twinName));
    checkSummary(await get(`${SUMMARY}?${qs({ customer_name: twinName })}`, S_OP), Math.min(...twinIds), {}, 1, 'twin names');
    // More than 10 matches: the 10 best.
    const common = ['llc', 'ree', 'ers', 'lab', 'ing', 'ana'].find((x) => [...customers.values()].filter((c) => String(c.customer_name).toLowerCase().includes(x)).length > 10);
    expect(common, 'a term in more than 10 names').to.be.a('string');
    const wide = expectedMatches(common!);
    expect(wide).to.have.length(10);
    const e = await get(`${SUMMARY}?customer_name=${encodeURIComponent(`  ${common}  `)}&match_strategy=all`, S_OP);
    expect(e.matches).to.deep.equal(wide);
  });

  it('customers/orders/summary: match_threshold refuses a best match below it (404), accepts one at it', async () => {
    // A term whose best match is only "inside a name" (0.75).
    let term = '';
    for (const c of customers.values()) {
      const n = String(c.customer_name ?? '');
      for (let i = 1; i + 5 <= n.length && !term; i++) {
        const t = n.slice(i, i + 5);
        if (t.trim().length === 5 && expectedMatches(t)[0]?.match_score === 0.75) term = t;
      }
      if (term) break;
    }
    expect(term, 'a term found only inside names').to.not.equal('');
    const exp = expectedMatches(term);
    const enc = encodeURIComponent(term);
    checkSummary(await get(`${SUMMARY}?customer_name=${enc}`, S_OP), exp[0].id, {}, 0.75, 'default threshold 0.6');
    checkSummary(await get(`${SUMMARY}?customer_name=${enc}&match_threshold=0.75`, S_OP), exp[0].id, {}, 0.75, 'threshold at the score');
    await bad(`${SUMMARY}?customer_name=${enc}&match_threshold=0.76`, '', 404);
    // The threshold is for best only: all still lists the matches.
    const all = await get(`${SUMMARY}?customer_name=${enc}&match_threshold=1&match_strategy=all`, S_OP);
    expect(all.matches).to.deep.equal(exp);
    // A prefix (0.9) passes 0.9 and fails 0.95; the whole name passes 1.
    const id = busiestOpen();
    const name = customerName(id)!;
    const prefix = name.slice(0, name.length - 2);
    const pm = expectedMatches(prefix);
    if (pm[0].match_score === 0.9) {
      checkSummary(await get(`${SUMMARY}?${qs({ customer_name: prefix, match_threshold: 0.9 })}`, S_OP), pm[0].id, {}, 0.9, 'prefix');
      await bad(`${SUMMARY}?${qs({ customer_name: prefix, match_threshold: 0.95 })}`, '', 404);
    }
    checkSummary(await get(`${SUMMARY}?${qs({ customer_name: name, match_threshold: 1 })}`, S_OP), id, {}, 1, 'whole name, threshold 1');
  });

  it('customers/orders/summary: no match, an unknown id and a deleted customer are 404 JSON', async () => {
    await bad(`${SUMMARY}?customer_name=zzqx-no-such-customer`, '', 404);
    await bad(`${SUMMARY}?customer_name=zzqx-no-such-customer&match_strategy=all`, '', 404);
    await bad(`${SUMMARY}?customer_name=${encodeURIComponent('%%%')}`, '', 404);
    await bad(`${SUMMARY}?customer_name=___&match_strategy=all`, '', 404);
    await bad(`${SUMMARY}?customer_id=987654321`, '', 404);
    const id = busiestOpen();
    const name = customerName(id)!;
    await f.db.pool.query('UPDATE qbench.customers SET deleted = true WHERE id = $1', [id]);
    try {
      await bad(`${SUMMARY}?customer_id=${id}`, '', 404);
      const all = await f.get(`${SUMMARY}?${qs({ customer_name: name, match_strategy: 'all' })}`);
      if (all.status === 200) expect(all.body.matches.map((m: Rec) => m.id)).to.not.include(id);
      else expect(all.status).to.equal(404);
    } finally {
      await f.db.pool.query('UPDATE qbench.customers SET deleted = false WHERE id = $1', [id]);
    }
  });

  it('customers/orders/summary: deleted orders, samples and tests do not count', async () => {
    const id = busiestOpen();
    const q = `customer_id=${id}&include_samples=true&include_tests=true&limit_orders=100`;
    const before = await get(`${SUMMARY}?${q}`, S_OP);
    const top = before.orders[0];
    const other = before.orders.find((o: Rec) => o.pending_samples > 0 && o.order_id !== top.order_id);
    expect(other, 'a second open order with pending samples').to.not.equal(undefined);
    const { rows: [s] } = await f.db.pool.query<{ id: string; tests: string }>(
      `SELECT s.id, (SELECT count(*) FROM qbench.tests t WHERE t.sample_id = s.id AND NOT t.deleted AND t.report_completed_date IS NULL) AS tests
       FROM qbench.samples s WHERE s.order_id = $1 AND NOT s.deleted AND s.completed_date IS NULL ORDER BY s.id LIMIT 1`, [other.order_id]);
    await f.db.pool.query('UPDATE qbench.orders SET deleted = true WHERE id = $1', [top.order_id]);
    await f.db.pool.query('UPDATE qbench.samples SET deleted = true WHERE id = $1', [s.id]);
    try {
      const after = await get(`${SUMMARY}?${q}`, S_OP);
      expect(after.metrics.total_orders).to.equal(before.metrics.total_orders - 1);
      expect(after.metrics.open_orders).to.equal(before.metrics.open_orders - 1);
      expect(after.orders.map((o: Rec) => o.order_id)).to.not.include(top.order_id);
      const o2 = after.orders.find((o: Rec) => o.order_id === other.order_id);
      expect(o2.pending_samples).to.equal(other.pending_samples - 1);
      expect(o2.pending_tests).to.equal(other.pending_tests - Number(s.tests));
    } finally {
      await f.db.pool.query('UPDATE qbench.orders SET deleted = false WHERE id = $1', [top.order_id]);
      await f.db.pool.query('UPDATE qbench.samples SET deleted = false WHERE id = $1', [s.id]);
    }
  });

  it('customers/orders/summary: bad input is a 400 naming the parameter', async () => {
    const none = await bad(SUMMARY, 'customer_id');
    expect(none.details[0].rule).to.equal('required');
    const both = await bad(`${SUMMARY}?customer_id=1&customer_name=green`, 'customer_name');
    expect(both.message).to.match(/not both/);
    await bad(`${SUMMARY}?customer_name=ab`, 'customer_name');
    await bad(`${SUMMARY}?customer_name=${encodeURIComponent('  ab  ')}`, 'customer_name');
    await bad(`${SUMMARY}?customer_name=${'x'.repeat(201)}`, 'customer_name');
    await bad(`${SUMMARY}?customer_id=abc`, 'customer_id');
    await bad(`${SUMMARY}?customer_id=0`, 'customer_id');
    await bad(`${SUMMARY}?customer_name=green&match_strategy=first`, 'match_strategy');
    await bad(`${SUMMARY}?customer_name=green&match_threshold=1.5`, 'match_threshold');
    await bad(`${SUMMARY}?customer_name=green&match_threshold=-0.1`, 'match_threshold');
    await bad(`${SUMMARY}?customer_id=1&limit_orders=0`, 'limit_orders');
    await bad(`${SUMMARY}?customer_id=1&limit_orders=101`, 'limit_orders');
    await bad(`${SUMMARY}?customer_id=1&sla_hours=0`, 'sla_hours');
    await bad(`${SUMMARY}?customer_id=1&include_samples=yes`, 'include_samples');
    await bad(`${SUMMARY}?customer_id=1&date_from=2026-05-01&date_to=2026-04-01`, 'date_to');
    await bad(`${SUMMARY}?customer_id=1&customer_query=x`, 'customer_query');
    await bad(`${SUMMARY}?customer_id=1&customer_id=2`, 'customer_id');
  });
});
