/**
 * Every metric endpoint against an INDEPENDENT computation from the simulator's truth objects (QBench date
 * strings parsed here, the downloader's rules applied in plain TypeScript), over ranges that the rollups answer
 * (whole days) and ranges/filters that force the typed-row fallback, so both paths are checked.
 */
import { expect } from 'chai';
import { parseQbDate } from '../../sim/index.js';
import { responseErrors } from '../../api/index.js';
import { apiFixture, type ApiFixture } from './fixture.js';

type Rec = Record<string, any>;
const H = 3600;
const DAY = 86400;
const LABELS = ['CN', 'MB', 'TP', 'MY', 'HM', 'FFM', 'HO', 'HLVd', 'MC', 'PS', 'PN', 'RS', 'ST', 'SP', 'WA', 'YM'];
const TAT_TYPES = ['Adult Use', 'AU Cliente R&D', 'Medical MJ'];

const ts = (v: unknown): number | null => (typeof v === 'string' && v ? parseQbDate(v) : null);
const utcDay = (s: number) => new Date(s * 1000).toISOString().slice(0, 10);
const mondayOf = (s: number) => {
  const d = new Date(s * 1000);
  const dow = (d.getUTCDay() + 6) % 7;
  return utcDay(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - dow) / 1000);
};

interface Truth {
  customers: Rec[];
  orders: Map<number, Rec>;
  samples: Rec[];
  tests: Rec[];
  sampleById: Map<number, Rec>;
}

/** Range rule (§7), UTC lab: >= from; to at midnight → < to + 1 day; else <= to. Inputs like the query. */
function rule(from?: string, to?: string): (s: number | null) => boolean {
  const parse = (v: string) => Date.parse(/T/.test(v) ? (/(Z|[+-]\d\d:?\d\d)$/.test(v) ? v : `${v}Z`) : `${v}T00:00:00Z`) / 1000;
  const lo = from ? parse(from) : null;
  const hiRaw = to ? parse(to) : null;
  const midnight = hiRaw !== null && hiRaw % DAY === 0;
  return (s) => {
    if (s === null) return from === undefined && to === undefined ? true : false;
    if (lo !== null && s < lo) return false;
    if (hiRaw !== null) return midnight ? s < hiRaw + DAY : s <= hiRaw;
    return true;
  };
}
// A null date is outside any range but inside "no range" (the downloader applies no condition then).
const inR = (f: (s: number | null) => boolean, s: number | null, hasRange: boolean) => (s === null ? !hasRange : f(s));

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const p95 = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.max(0, Math.min(Math.floor(s.length * 0.95) - 1, s.length - 1))];
};
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const close = (a: number | null, b: number | null | undefined, what: string) => {
  if (b === null || b === undefined) return expect(a, what).to.equal(null);
  expect(a, what).to.be.a('number');
  expect(a!, what).to.be.closeTo(b, Math.max(1e-9, Math.abs(b) * 1e-9));
};

describe('api: metrics equal an independent computation from the simulator truth', function () {
  this.timeout(120_000);
  let f: ApiFixture;
  let t: Truth;
  let busyCustomer: number;
  let someOrder: number;
  let someBatch: number;

  before(async () => {
    f = await apiFixture({ size: 'small', seed: 11 });
    const sim = f.sim!;
    const customers = sim.truth.ids('customer').map((id) => sim.truth.get('customer', id)!);
    const orders = new Map(sim.truth.ids('order').map((id) => [id, sim.truth.get('order', id)!] as [number, Rec]));
    const samples = sim.truth.ids('sample').map((id) => sim.truth.get('sample', id)! as Rec);
    const sampleById = new Map(samples.map((s) => [Number(s.id), s]));
    const tests = sim.truth.ids('test').map((id) => {
      const x = sim.truth.get('test', id)! as Rec;
      const s = sampleById.get(Number(x.sample_id));
      const o = s ? orders.get(Number(s.order_id)) : undefined;
      const created = ts(x.date_created);
      const reported = ts(x.report_completed_date);
      return {
        id, created, reported, state: x.state, label: x.label_abbr ?? x.assay?.label_abbr ?? null,
        sampleId: Number(x.sample_id), orderId: s ? Number(s.order_id) : null, customerId: o ? Number(o.customer_account_id) : null,
        sampleType: s?.accessioning_type?.value ?? null, batches: (x.batches ?? x.batch_ids ?? []).map((b: any) => Number(b?.id ?? b)),
        tat: created !== null && reported !== null ? (reported - created) / H : null,
      };
    });
    t = { customers, orders, samples, tests, sampleById };
    const perCustomer = new Map<number, number>();
    for (const x of tests) if (x.customerId) perCustomer.set(x.customerId, (perCustomer.get(x.customerId) ?? 0) + 1);
    busyCustomer = [...perCustomer.entries()].sort((a, b) => b[1] - a[1])[1][0];
    someOrder = Number([...orders.keys()][Math.floor(orders.size / 2)]);
    someBatch = tests.find((x) => x.batches.length)!.batches[0];
  });
  after(() => f?.close());

  async function get(path: string) {
    const r = await f.get(path);
    expect(r.status, `${path}: ${r.text}`).to.equal(200);
    const op = f.server && (await opFor(path));
    if (op) expect(responseErrors(op, r.body), `${path} response schema`).to.deep.equal([]);
    return r.body;
  }
  async function opFor(path: string): Promise<string | undefined> {
    const p = path.split('?')[0].replace('/api/v1/metrics/', '').replace(/[/-]/g, '_');
    return `metrics.${p}`;
  }

  const testsWhere = (o: { customer?: number; order?: number; state?: string; batch?: number }) => (x: Rec) =>
    (o.customer === undefined || x.customerId === o.customer) && (o.order === undefined || x.orderId === o.order) &&
    (o.state === undefined || x.state === o.state) && (o.batch === undefined || x.batches.includes(o.batch));
  const samplesWhere = (o: { customer?: number; order?: number; state?: string }) => (s: Rec) =>
    (o.customer === undefined || Number(t.orders.get(Number(s.order_id))?.customer_account_id) === o.customer) &&
    (o.order === undefined || Number(s.order_id) === o.order) && (o.state === undefined || s.state === o.state);

  const qs = (o: Record<string, unknown>) =>
    Object.entries(o).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`).join('&');

  const RANGES: Array<{ name: string; from?: string; to?: string }> = [
    { name: 'no range' },
    { name: 'whole days (rollups)', from: '2026-01-01', to: '2026-06-30' },
    { name: 'midnight date_to given as a date-time', from: '2025-11-01T00:00:00Z', to: '2026-02-28T00:00:00Z' },
    { name: 'times of day (typed rows)', from: '2026-03-01T10:30:00Z', to: '2026-05-15T18:00:00Z' },
    { name: 'one second past midnight excludes the rest of that day', from: '2026-04-01', to: '2026-04-30T00:00:01Z' },
  ];

  for (const R of RANGES) {
    it(`summary, ${R.name}, and with customer / order / state filters`, async () => {
      const inRange = rule(R.from, R.to);
      const has = R.from !== undefined || R.to !== undefined;
      for (const flt of [{}, { customer: busyCustomer }, { order: someOrder }, { state: 'REPORTED' }, { customer: busyCustomer, state: 'COMPLETED' }] as Array<Record<string, any>>) {
        const sla = flt.customer ? 72 : undefined;
        const body = await get(`/api/v1/metrics/summary?${qs({ date_from: R.from, date_to: R.to, customer_id: flt.customer, order_id: flt.order, state: flt.state, sla_hours: sla })}`);
        const tw = testsWhere(flt);
        const samples = t.samples.filter((s) => samplesWhere(flt)(s) && inR(inRange, ts(s.date_created), has));
        const tests = t.tests.filter((x) => tw(x) && inR(inRange, x.created, has));
        const reported = t.tests.filter((x) => tw(x) && x.reported !== null && inRange(x.reported));
        const tat3 = reported.filter((x) => TAT_TYPES.includes(x.sampleType) && x.tat !== null).map((x) => x.tat!);
        const customers = t.customers.filter((c) => (flt.customer === undefined || Number(c.id) === flt.customer) && inR(inRange, ts(c.date_created), has));
        const label = `${R.name} ${JSON.stringify(flt)}`;
        expect(body.kpis.total_samples, `samples ${label}`).to.equal(samples.length);
        expect(body.kpis.total_tests, `tests ${label}`).to.equal(tests.length);
        expect(body.kpis.total_reports, `reports ${label}`).to.equal(reported.length);
        expect(body.kpis.total_customers, `customers ${label}`).to.equal(customers.length);
        close(body.kpis.average_tat_hours, tat3.length ? mean(tat3) : null, `avg tat ${label}`);
        const slaH = sla ?? 48;
        expect(body.kpis.reports_within_sla, `within ${label}`).to.equal(reported.filter((x) => x.tat !== null && x.tat <= slaH).length);
        expect(body.kpis.reports_beyond_sla, `beyond ${label}`).to.equal(reported.filter((x) => x.tat !== null && x.tat > slaH).length);
        expect(body.sla_hours).to.equal(slaH);
      }
    });
  }

  it('the midnight rule: date_to 2026-04-30 covers that day, 2026-04-30T00:00:01Z only its first second', async () => {
    const a = await get('/api/v1/metrics/summary?date_from=2026-04-01&date_to=2026-04-30');
    const b = await get('/api/v1/metrics/summary?date_from=2026-04-01&date_to=2026-04-30T00:00:00');
    const c = await get('/api/v1/metrics/summary?date_from=2026-04-01&date_to=2026-04-30T00:00:01Z');
    expect(b.kpis).to.deep.equal(a.kpis);
    const onLastDay = t.tests.filter((x) => x.created !== null && utcDay(x.created) === '2026-04-30' && x.created > Date.UTC(2026, 3, 30, 0, 0, 1) / 1000).length;
    expect(onLastDay, 'the data has tests late on 2026-04-30').to.be.greaterThan(0);
    expect(a.kpis.total_tests - c.kpis.total_tests).to.equal(onLastDay);
  });

  it('activity/daily with compare_previous (rollups and typed rows)', async () => {
    for (const [from, to, customer] of [['2026-02-01', '2026-03-15', undefined], ['2026-02-01T06:00:00Z', '2026-03-15T12:00:00Z', busyCustomer]] as const) {
      const body = await get(`/api/v1/metrics/activity/daily?${qs({ date_from: from, date_to: to, customer_id: customer, compare_previous: true })}`);
      const expected = (fr: string, tt: string) => {
        const r = rule(fr, tt);
        const m = new Map<string, { samples: number; tests: number; tests_reported: number }>();
        const bump = (d: string, k: 'samples' | 'tests' | 'tests_reported') => {
          const e = m.get(d) ?? { samples: 0, tests: 0, tests_reported: 0 };
          e[k]++;
          m.set(d, e);
        };
        for (const s of t.samples) {
          const c = ts(s.date_created);
          if (c !== null && r(c) && samplesWhere({ customer })(s)) bump(utcDay(c), 'samples');
        }
        for (const x of t.tests.filter(testsWhere({ customer }))) {
          if (x.created !== null && r(x.created)) bump(utcDay(x.created), 'tests');
          if (x.reported !== null && r(x.reported)) bump(utcDay(x.reported), 'tests_reported');
        }
        return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([date, v]) => ({ date, ...v }));
      };
      expect(body.current).to.deep.equal(expected(from, to));
      // Previous: as many days (by date), ending the day before date_from, same time of day.
      const fromS = Date.parse(from.length === 10 ? `${from}T00:00:00Z` : from) / 1000;
      const span = Math.round((Date.parse(to.slice(0, 10)) - Date.parse(from.slice(0, 10))) / 86400000) + 1;
      const prevEnd = fromS - DAY;
      const prevStart = prevEnd - (span - 1) * DAY;
      const iso = (s: number) => new Date(s * 1000).toISOString().replace('.000Z', 'Z');
      expect(body.previous).to.deep.equal(expected(iso(prevStart), iso(prevEnd)));
      expect(body.previous.length).to.be.greaterThan(0);
    }
  });

  it('samples/overview and tests/overview (with state, order and batch filters)', async () => {
    const R = rule('2026-01-01', '2026-09-30');
    const groups = (xs: Array<string | null>) => {
      const m = new Map<string, number>();
      for (const x of xs) m.set(x ?? 'unknown', (m.get(x ?? 'unknown') ?? 0) + 1);
      return [...m.entries()].map(([key, count]) => ({ key, count })).sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1));
    };
    for (const flt of [{}, { customer: busyCustomer }, { state: 'COMPLETED' }] as Array<Record<string, any>>) {
      const body = await get(`/api/v1/metrics/samples/overview?${qs({ date_from: '2026-01-01', date_to: '2026-09-30', customer_id: flt.customer, state: flt.state })}`);
      const ss = t.samples.filter((s) => samplesWhere(flt)(s) && ts(s.date_created) !== null && R(ts(s.date_created)));
      const done = ss.filter((s) => ts(s.completed_date ?? s.complete_date) !== null).length;
      expect(body.kpis).to.deep.equal({ total_samples: ss.length, completed_samples: done, pending_samples: ss.length - done });
      expect(body.by_state).to.deep.equal(groups(ss.map((s) => s.state ?? null)));
      expect(body.by_matrix_type).to.deep.equal(groups(ss.map((s) => s.matrix_type ?? null)));
      expect(body.created_vs_completed).to.deep.equal([{ key: 'created', count: ss.length }, { key: 'completed', count: done }]);
    }
    for (const flt of [{}, { order: someOrder }, { batch: someBatch }, { state: 'REPORTED', customer: busyCustomer }] as Array<Record<string, any>>) {
      const body = await get(`/api/v1/metrics/tests/overview?${qs({ date_from: flt.batch || flt.order ? undefined : '2026-01-01', date_to: flt.batch || flt.order ? undefined : '2026-09-30', customer_id: flt.customer, order_id: flt.order, state: flt.state, batch_id: flt.batch })}`);
      const rr = flt.batch || flt.order ? () => true : R;
      const xs = t.tests.filter((x) => testsWhere(flt)(x) && (flt.batch || flt.order ? true : x.created !== null && rr(x.created)));
      const done = xs.filter((x) => x.reported !== null).length;
      expect(xs.length, JSON.stringify(flt)).to.be.greaterThan(0);
      expect(body.kpis).to.deep.equal({ total_tests: xs.length, completed_tests: done, pending_tests: xs.length - done });
      expect(body.by_state).to.deep.equal(groups(xs.map((x) => x.state ?? null)));
      expect(body.by_label).to.deep.equal(groups(xs.map((x) => x.label)));
    }
  });

  it('customers/new and customers/top-tests', async () => {
    for (const [from, to] of [['2025-01-01', '2026-11-30'], ['2025-06-01T12:00:00Z', '2026-10-01T08:00:00Z']]) {
      const R = rule(from, to);
      const body = await get(`/api/v1/metrics/customers/new?${qs({ date_from: from, date_to: to, limit: 5 })}`);
      const exp = t.customers.filter((c) => ts(c.date_created) !== null && R(ts(c.date_created)))
        .sort((a, b) => ts(b.date_created)! - ts(a.date_created)! || Number(b.id) - Number(a.id)).slice(0, 5)
        .map((c) => ({ id: Number(c.id), name: c.customer_name, created_at: new Date(ts(c.date_created)! * 1000).toISOString() }));
      expect(body.customers).to.deep.equal(exp);
      const top = await get(`/api/v1/metrics/customers/top-tests?${qs({ date_from: from, date_to: to, limit: 4 })}`);
      const per = new Map<number, { tests: number; rep: number }>();
      const live = new Set(t.customers.map((c) => Number(c.id)));
      for (const x of t.tests) {
        if (!x.customerId || !live.has(x.customerId)) continue;
        const e = per.get(x.customerId) ?? { tests: 0, rep: 0 };
        if (x.created !== null && R(x.created)) e.tests++;
        if (x.reported !== null && R(x.reported)) e.rep++;
        per.set(x.customerId, e);
      }
      const names = new Map(t.customers.map((c) => [Number(c.id), c.customer_name]));
      const expTop = [...per.entries()].filter(([, e]) => e.tests > 0).sort((a, b) => b[1].tests - a[1].tests || a[0] - b[0]).slice(0, 4)
        .map(([id, e]) => ({ id, name: names.get(id), tests: e.tests, tests_reported: e.rep }));
      expect(top.customers).to.deep.equal(expTop);
    }
  });

  it('tests/tat (completion range, p95 index rule, buckets, series by day and week, sla_hours honoured)', async () => {
    for (const [from, to, extra] of [
      ['2026-01-01', '2026-06-30', {}], ['2026-02-10T09:00:00Z', '2026-07-01T17:30:00Z', {}], [undefined, undefined, { customer_id: busyCustomer }], ['2026-01-01', '2026-12-31', { state: 'REPORTED' }],
    ] as Array<[string | undefined, string | undefined, Record<string, any>]>) {
      for (const [group, sla] of [['week', 72], ['day', undefined]] as const) {
        const body = await get(`/api/v1/metrics/tests/tat?${qs({ date_created_from: from, date_created_to: to, group_by: group, sla_hours: sla, ...extra })}`);
        const R = rule(from, to);
        const xs = t.tests.filter((x) => testsWhere({ customer: extra.customer_id, state: extra.state })(x) && x.reported !== null && R(x.reported) && x.tat !== null);
        const v = xs.map((x) => x.tat!);
        const s = sla ?? 48;
        close(body.metrics.average_hours, mean(v), 'avg');
        close(body.metrics.median_hours, median(v), 'median');
        close(body.metrics.p95_hours, p95(v), 'p95');
        expect(body.metrics.completed_within_sla).to.equal(v.filter((x) => x <= s).length);
        expect(body.metrics.completed_beyond_sla).to.equal(v.filter((x) => x > s).length);
        const bk: Array<[string, number, number]> = [['0-24h', 0, 24], ['24-48h', 24, 48], ['48-72h', 48, 72], ['72-168h', 72, 168], ['>168h', 168, Infinity]];
        expect(body.distribution).to.deep.equal(bk.map(([label, lo, hi]) => ({ label, count: v.filter((x) => x >= lo && x < hi).length })));
        const per = new Map<string, number[]>();
        for (const x of xs) {
          const k = group === 'day' ? utcDay(x.reported!) : mondayOf(x.reported!);
          per.set(k, [...(per.get(k) ?? []), x.tat!]);
        }
        const expSeries = [...per.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
        expect(body.series.map((p: Rec) => p.period_start)).to.deep.equal(expSeries.map(([k]) => k));
        body.series.forEach((p: Rec, i: number) => close(p.value, mean(expSeries[i][1]), `series ${p.period_start}`));
      }
    }
  });

  it('tests/tat-breakdown (creation range, per label, sorted by count)', async () => {
    for (const [from, to] of [['2026-01-01', '2026-06-30'], ['2026-01-01T05:00:00Z', '2026-06-30T05:00:00Z']]) {
      const body = await get(`/api/v1/metrics/tests/tat-breakdown?${qs({ date_created_from: from, date_created_to: to })}`);
      const R = rule(from, to);
      const per = new Map<string, number[]>();
      for (const x of t.tests) if (x.created !== null && R(x.created) && x.tat !== null) per.set(x.label ?? 'unknown', [...(per.get(x.label ?? 'unknown') ?? []), x.tat]);
      const exp = [...per.entries()].sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1));
      expect(body.breakdown.map((b: Rec) => [b.label, b.total_tests])).to.deep.equal(exp.map(([l, v]) => [l, v.length]));
      body.breakdown.forEach((b: Rec, i: number) => {
        close(b.average_hours, mean(exp[i][1]), `avg ${b.label}`);
        close(b.median_hours, median(exp[i][1]), `median ${b.label}`);
        close(b.p95_hours, p95(exp[i][1]), `p95 ${b.label}`);
      });
    }
  });

  it('tests/label-distribution (16 labels, zero-filled, stable order for ties)', async () => {
    for (const flt of [{ from: '2026-05-01', to: '2026-05-31' }, { from: '2026-05-01', to: '2026-05-31', state: 'REPORTED' }, { customer: busyCustomer }] as Array<Record<string, any>>) {
      const body = await get(`/api/v1/metrics/tests/label-distribution?${qs({ date_from: flt.from, date_to: flt.to, state: flt.state, customer_id: flt.customer })}`);
      const R = rule(flt.from, flt.to);
      const has = flt.from !== undefined;
      const counts = new Map(LABELS.map((l) => [l, 0]));
      for (const x of t.tests) if (testsWhere({ state: flt.state, customer: flt.customer })(x) && inR(R, x.created, has) && counts.has(x.label)) counts.set(x.label, counts.get(x.label)! + 1);
      const exp = LABELS.map((label, i) => ({ label, count: counts.get(label)!, i })).sort((a, b) => b.count - a.count || a.i - b.i).map(({ label, count }) => ({ label, count }));
      expect(body.labels).to.deep.equal(exp);
    }
  });

  it('reports/overview (state forced to REPORTED, sla_hours) and tests/tat-daily (moving average)', async () => {
    for (const [from, to, sla] of [['2026-03-01', '2026-04-30', undefined], ['2026-03-01T08:00:00Z', '2026-04-30T20:00:00Z', 36]] as const) {
      const R = rule(from, to);
      const s = sla ?? 48;
      const rep = await get(`/api/v1/metrics/reports/overview?${qs({ date_from: from, date_to: to, sla_hours: sla, state: 'COMPLETED' })}`);
      const xs = t.tests.filter((x) => x.state === 'REPORTED' && x.reported !== null && R(x.reported));
      expect(rep).to.deep.equal({
        total_reports: xs.length, reports_within_sla: xs.filter((x) => x.tat !== null && x.tat <= s).length,
        reports_beyond_sla: xs.filter((x) => x.tat !== null && x.tat > s).length, sla_hours: s,
      });
      const daily = await get(`/api/v1/metrics/tests/tat-daily?${qs({ date_from: from, date_to: to, sla_hours: sla, moving_average_window: 5 })}`);
      const per = new Map<string, Rec[]>();
      for (const x of t.tests) if (x.reported !== null && R(x.reported)) per.set(utcDay(x.reported), [...(per.get(utcDay(x.reported)) ?? []), x]);
      const days = [...per.keys()].sort();
      expect(daily.points.map((p: Rec) => p.date)).to.deep.equal(days);
      const avgs: number[] = [];
      const ma: Array<[string, number]> = [];
      daily.points.forEach((p: Rec) => {
        const v = per.get(p.date)!.filter((x) => x.tat !== null).map((x) => x.tat as number);
        close(p.average_hours, v.length ? mean(v) : null, `avg ${p.date}`);
        expect(p.within_sla).to.equal(v.filter((x) => x <= s).length);
        expect(p.beyond_sla).to.equal(v.filter((x) => x > s).length);
        if (v.length) {
          avgs.push(mean(v));
          if (avgs.length >= 5) ma.push([p.date, mean(avgs.slice(-5))]);
        }
      });
      expect(daily.moving_average_hours.map((m: Rec) => m.period_start)).to.deep.equal(ma.map(([d]) => d));
      daily.moving_average_hours.forEach((m: Rec, i: number) => close(m.value, ma[i][1], `ma ${m.period_start}`));
    }
    const one = await get('/api/v1/metrics/tests/tat-daily?date_from=2026-03-01&date_to=2026-03-31&moving_average_window=1');
    expect(one.moving_average_hours).to.equal(null);
  });

  it('common/filters and sync/status', async () => {
    const body = await get('/api/v1/metrics/common/filters');
    const custs = t.customers.map((c) => ({ id: Number(c.id), name: c.customer_name })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id));
    expect(body.customers).to.deep.equal(custs);
    expect(body.test_states).to.deep.equal([...new Set(t.tests.map((x) => x.state).filter(Boolean))].sort());
    expect(body.sample_states).to.deep.equal([...new Set(t.samples.map((s) => s.state).filter(Boolean))].sort());
    expect(body.last_updated_at).to.be.a('string');
    const st = await get('/api/v1/metrics/sync/status?entity=tests');
    expect(st.entity).to.equal('tests');
    expect(Date.parse(st.updated_at)).to.be.greaterThan(Date.now() - 600_000);
    expect(st.last_success_at).to.be.a('string');
  });
});
