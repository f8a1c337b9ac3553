import { expect } from 'chai';
import { parseQbDate, SIM_ENTITIES, type SimEntity, type Simulator } from '../../sim/index.js';
import { api, getToken, startSim } from './helpers.js';

type Obj = Record<string, unknown>;
const all = (sim: Simulator, e: SimEntity): Obj[] => sim.truth.ids(e).map((id) => sim.truth.get(e, id)!);

const LABELS = ['CN', 'MB', 'TP', 'MY', 'HM', 'FFM', 'HO', 'HLVd', 'MC', 'PS', 'PN', 'RS', 'ST', 'SP', 'WA', 'YM'];

describe('sim: deterministic data', () => {
  it('two simulators with the same size and seed serve identical data over HTTP; another seed differs', async () => {
    const [a, b, c] = await Promise.all([startSim({ seed: 5 }), startSim({ seed: 5 }), startSim({ seed: 6 })]);
    try {
      const [ta, tb, tc] = await Promise.all([getToken(a), getToken(b), getToken(c)]);
      const strip = (o: Obj): Obj => Object.fromEntries(Object.entries(o).filter(([k]) => !/^qb[0-9a-f]+$/.test(k)));
      for (const entity of SIM_ENTITIES) {
        const pa = await api(a, ta, entity, { page_size: 50, page_num: 2, include_raw_worksheet_data: true });
        const pb = await api(b, tb, entity, { page_size: 50, page_num: 2, include_raw_worksheet_data: true });
        expect(strip(pa.json), entity).to.deep.equal(strip(pb.json));
        expect(a.truth.ids(entity)).to.deep.equal(b.truth.ids(entity));
      }
      for (const entity of SIM_ENTITIES) {
        for (const id of a.truth.ids(entity)) expect(a.truth.get(entity, id)).to.deep.equal(b.truth.get(entity, id));
      }
      const pc = await api(c, tc, 'test', { page_size: 50 });
      const pa = await api(a, ta, 'test', { page_size: 50 });
      expect(strip(pc.json)).to.not.deep.equal(strip(pa.json));
      expect(all(a, 'customer').map((x) => x.customer_name)).to.not.deep.equal(all(c, 'customer').map((x) => x.customer_name));
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  it('sizes have the documented scale (tiny 300-600 tests, small ~10k)', async () => {
    const tiny = await startSim({ size: 'tiny', seed: 1 });
    const small = await startSim({ size: 'small', seed: 1 });
    try {
      expect(tiny.truth.count('test')).to.be.within(300, 600);
      expect(small.truth.count('test')).to.be.within(8_000, 12_000);
    } finally {
      await Promise.all([tiny.close(), small.close()]);
    }
  });
});

describe('sim: relational consistency and lab workflow (small lab)', () => {
  let sim: Simulator;
  let customers: Obj[];
  let orders: Obj[];
  let samples: Obj[];
  let tests: Obj[];
  let batches: Obj[];
  let reports: Obj[];
  before(async () => {
    sim = await startSim({ size: 'small', seed: 2024 });
    customers = all(sim, 'customer');
    orders = all(sim, 'order');
    samples = all(sim, 'sample');
    tests = all(sim, 'test');
    batches = all(sim, 'batch');
    reports = all(sim, 'report');
  });
  after(() => sim.close());

  it('every order has its customer, every sample its order, every test its sample', () => {
    const customerIds = new Set(customers.map((c) => c.id));
    const orderIds = new Set(orders.map((o) => o.id));
    const sampleIds = new Set(samples.map((s) => s.id));
    for (const o of orders) expect(customerIds.has(o.customer_account_id), `order ${o.id}`).to.equal(true);
    for (const s of samples) expect(orderIds.has(s.order_id), `sample ${s.id}`).to.equal(true);
    for (const t of tests) expect(sampleIds.has(t.sample_id), `test ${t.id}`).to.equal(true);
  });

  it('order sample_count/test_count and sample test_count match the live children', () => {
    const samplesByOrder = new Map<unknown, Obj[]>();
    for (const s of samples) samplesByOrder.set(s.order_id, [...(samplesByOrder.get(s.order_id) ?? []), s]);
    const testsBySample = new Map<unknown, number>();
    for (const t of tests) testsBySample.set(t.sample_id, (testsBySample.get(t.sample_id) ?? 0) + 1);
    for (const o of orders) {
      const kids = samplesByOrder.get(o.id) ?? [];
      expect(o.sample_count, `order ${o.id}`).to.equal(kids.length);
      expect(o.test_count).to.equal(kids.reduce((n, s) => n + (testsBySample.get(s.id) ?? 0), 0));
    }
    for (const s of samples) expect(s.test_count).to.equal(testsBySample.get(s.id) ?? 0);
  });

  it('batch links hold both ways (batch.test_ids/sample_ids <-> test.batches/sample.batches)', () => {
    const testById = new Map(tests.map((t) => [t.id, t]));
    const sampleById = new Map(samples.map((s) => [s.id, s]));
    expect(batches.length).to.be.above(100);
    for (const b of batches) {
      expect(b.test_ids as number[]).to.not.be.empty;
      const wantSamples = new Set<unknown>();
      for (const tid of b.test_ids as number[]) {
        const t = testById.get(tid)!;
        expect(t, `batch ${b.id} test ${tid}`).to.not.equal(undefined);
        expect(t.batches as number[]).to.include(b.id);
        expect(t.assay_id).to.equal(b.assay_id);
        wantSamples.add(t.sample_id);
      }
      expect(b.sample_ids).to.deep.equal([...wantSamples].sort((x, y) => Number(x) - Number(y)));
      for (const sid of b.sample_ids as number[]) expect(sampleById.get(sid)!.batches as number[]).to.include(b.id);
    }
    const batchIds = new Set(batches.map((b) => b.id));
    for (const t of tests) for (const bid of t.batches as number[]) expect(batchIds.has(bid)).to.equal(true);
  });

  it('tests carry assay_id and assay{id,label_abbr,title} from the 16 labels', () => {
    const labels = new Set(tests.map((t) => (t.assay as Obj).label_abbr));
    expect([...labels].sort()).to.deep.equal([...LABELS].sort());
    for (const t of tests.slice(0, 500)) {
      expect((t.assay as Obj).id).to.equal(t.assay_id);
      expect(t.label_abbr).to.equal((t.assay as Obj).label_abbr);
    }
    expect(all(sim, 'assay').map((a) => a.label_abbr)).to.deep.equal(LABELS);
  });

  it('test states follow the workflow and has_report/report_completed_date agree with REPORTED', () => {
    const states = new Set(tests.map((t) => t.state));
    for (const s of ['NOT STARTED', 'IN PROGRESS', 'COMPLETED', 'REPORTED', 'ON HOLD', 'CANCELLED', 'NOT REPORTABLE']) {
      expect(states.has(s), s).to.equal(true);
    }
    for (const t of tests) {
      const reported = t.state === 'REPORTED';
      expect(t.has_report, `test ${t.id}`).to.equal(reported);
      expect(t.report_completed_date !== null).to.equal(reported);
      if (t.start_date) expect(parseQbDate(String(t.start_date))).to.be.at.least(parseQbDate(String(t.date_created)) - 60);
      if (t.state === 'NOT STARTED') expect(t.start_date).to.equal(null);
    }
  });

  it('TAT (report_completed - date_created) is mostly 24-96 h with a long tail', () => {
    const tat = tests
      .filter((t) => t.report_completed_date)
      .map((t) => (parseQbDate(String(t.report_completed_date)) - parseQbDate(String(t.date_created))) / 3600);
    const share = tat.filter((h) => h >= 24 && h <= 96).length / tat.length;
    expect(share).to.be.within(0.7, 0.92);
    expect(tat.filter((h) => h > 24 * 14).length, 'tests reported weeks after creation').to.be.above(10);
    expect(Math.min(...tat)).to.be.above(0);
  });

  it('history spans about two years with the busiest weeks last, and recent work still in progress', () => {
    const now = sim.now().getTime() / 1000;
    const created = tests.map((t) => parseQbDate(String(t.date_created)));
    const oldestDays = (now - Math.min(...created)) / 86400;
    expect(oldestDays).to.be.within(700, 731);
    expect(Math.max(...created)).to.be.at.most(now);
    const lastMonth = created.filter((c) => now - c < 30 * 86400).length;
    const firstMonth = created.filter((c) => now - c > 700 * 86400).length;
    expect(lastMonth).to.be.above(firstMonth * 3);
    const recent = tests.filter((t) => now - parseQbDate(String(t.date_created)) < 3 * 86400);
    expect(recent.some((t) => t.state !== 'REPORTED')).to.equal(true);
  });

  it('samples: accessioning_type values, matrix_type, states, completed_date when complete', () => {
    const acc = new Set(samples.map((s) => (s.accessioning_type as Obj).value));
    for (const v of ['Adult Use', 'AU Cliente R&D', 'Medical MJ']) expect(acc.has(v), v).to.equal(true);
    for (const s of samples) {
      expect(s.matrix_type).to.be.a('string');
      expect(s.sample_name).to.be.a('string');
      expect(s.custom_formatted_id).to.be.a('string');
      expect(['COMPLETED', 'IN PROGRESS', 'NOT REPORTABLE', 'DISCONTINUED']).to.include(s.state);
      expect(s.completed_date !== null).to.equal(s.state !== 'IN PROGRESS');
    }
  });

  it('orders: states, and date_completed / date_order_reported consistent with them', () => {
    const states = new Set(orders.map((o) => o.state));
    for (const s of ['CREATED', 'COMPLETED', 'REPORTED', 'ON HOLD']) expect(states.has(s), s).to.equal(true);
    for (const o of orders) {
      if (o.state === 'REPORTED') expect(o.date_order_reported).to.be.a('string');
      else expect(o.date_order_reported).to.equal(null);
      if (o.state === 'REPORTED' || o.state === 'COMPLETED') expect(o.date_completed).to.be.a('string');
      else expect(o.date_completed).to.equal(null);
      expect(o.custom_formatted_id).to.match(/^ORD-\d{6}-\d{4}$/);
    }
  });

  it('reports: one per sample certificate, listing that sample’s REPORTED tests', () => {
    const testById = new Map(tests.map((t) => [t.id, t]));
    const sampleIds = new Set(samples.map((s) => s.id));
    expect(reports.length).to.be.above(1000);
    for (const r of reports) {
      expect(sampleIds.has(r.sample_id)).to.equal(true);
      expect(r.order_id).to.equal(null);
      expect(r.render_params).to.be.a('string');
      const ids = (JSON.parse(String(r.render_params)) as { test_ids: number[] }).test_ids;
      expect(ids).to.not.be.empty;
      for (const id of ids) {
        const t = testById.get(id)!;
        expect(t.sample_id).to.equal(r.sample_id);
        expect(t.state).to.equal('REPORTED');
        expect(t.report_completed_date).to.equal(r.date_generated);
      }
    }
    for (const s of samples) expect(s.has_report).to.equal(reports.some((r) => r.sample_id === s.id));
  });

  it('ids are monotone in date_created for every entity (date_created order == id order)', () => {
    for (const list of [orders, samples, tests, batches]) {
      const times = list.map((o) => parseQbDate(String(o.date_created)));
      for (let i = 1; i < times.length; i++) expect(times[i]).to.be.at.least(times[i - 1]);
    }
    const dated = customers.filter((c) => c.date_created !== null);
    const firstDated = customers.findIndex((c) => c.date_created !== null);
    expect(customers.slice(firstDated).every((c) => c.date_created !== null), 'legacy (null) customers come first').to.equal(true);
    expect(dated.length).to.be.above(0);
  });

  it('last_updated (unix string) is at or after every event date a record shows', () => {
    const skip = new Set(['date_required', 'estimated_start_date', 'estimated_complete_date', 'last_synced']);
    const eventDate = /^\d\d\/\d\d\/\d{4} \d\d:\d\d [AP]M$/;
    for (const list of [customers, orders, samples, tests, batches, reports]) {
      for (const o of list) {
        const lu = Number(o.last_updated);
        expect(String(o.last_updated)).to.match(/^\d+$/);
        for (const [k, v] of Object.entries(o)) {
          if (typeof v === 'string' && !skip.has(k) && eventDate.test(v)) expect(parseQbDate(v), `${o.id} ${k}`).to.be.at.most(lu);
        }
      }
    }
  });

  it('deleted records exist in truth but not in lists', () => {
    const deleted = sim.truth.deletedIds('test');
    expect(deleted.length).to.be.above(0);
    const live = new Set(sim.truth.ids('test'));
    for (const id of deleted) {
      expect(live.has(id)).to.equal(false);
      expect(sim.truth.get('test', id)).to.equal(undefined);
      expect(sim.truth.get('test', id, { includeDeleted: true })!.deleted).to.equal(true);
    }
    expect(sim.truth.count('test', { includeDeleted: true })).to.equal(live.size + deleted.length);
  });
});
