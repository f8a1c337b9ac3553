import { expect } from 'chai';
import { SIM_ENTITIES, sortFields, type SimEntity, type Simulator } from '../../sim/index.js';
import { api, DATE_ONLY, DATE_TIME, extraKeys, getToken, pageAll, startSim, UNIX_STRING } from './helpers.js';

const ids = (items: Record<string, unknown>[]): number[] => items.map((i) => Number(i.id));
const asc = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

describe('sim: v1 lists and details', () => {
  let sim: Simulator;
  let token: string;
  before(async () => {
    sim = await startSim({ size: 'tiny', seed: 7 });
    token = await getToken(sim);
  });
  after(() => sim.close());

  for (const entity of SIM_ENTITIES) {
    it(`${entity}: paging to the last page yields every live id exactly once, for sort_by=id asc and desc`, async () => {
      const truth = sim.truth.ids(entity);
      expect(truth.length, 'tiny lab has records').to.be.above(entity === 'assay' ? 15 : 5);
      const up = ids(await pageAll(sim, token, entity, { sort_by: 'id', sort_order: 'asc' }));
      expect(up).to.deep.equal(truth);
      const down = ids(await pageAll(sim, token, entity, { sort_by: 'id', sort_order: 'desc' }));
      expect(down).to.deep.equal([...truth].reverse());
    });

    it(`${entity}: sort_by=date_created and last_updated cover every id once, in field order`, async () => {
      const truth = sim.truth.ids(entity);
      for (const order of ['asc', 'desc'] as const) {
        const byCreated = await pageAll(sim, token, entity, { sort_by: 'date_created', sort_order: order });
        expect(asc(ids(byCreated))).to.deep.equal(truth);
        const byUpdated = await pageAll(sim, token, entity, { sort_by: 'last_updated', sort_order: order });
        expect(asc(ids(byUpdated))).to.deep.equal(truth);
        const lu = byUpdated.map((i) => Number(i.last_updated));
        const sorted = [...lu].sort((a, b) => (order === 'asc' ? a - b : b - a));
        expect(lu).to.deep.equal(sorted);
      }
    });
  }

  it('customers default to alphabetical by customer_name, case-insensitive', async () => {
    const items = await pageAll(sim, token, 'customer', { page_size: 4 });
    const names = items.map((c) => String(c.customer_name).toLowerCase());
    expect(names).to.deep.equal([...names].sort());
    expect(asc(ids(items))).to.deep.equal(sim.truth.ids('customer'));
    // A mixed-case name list would sort differently case-sensitively; prove the test data has one.
    const big = await startSim({ size: 'small', seed: 3 });
    try {
      const t = await getToken(big);
      const all = (await pageAll(big, t, 'customer')).map((c) => String(c.customer_name));
      expect(all.map((n) => n.toLowerCase())).to.deep.equal(all.map((n) => n.toLowerCase()).sort());
      expect(all.some((n) => n[0] !== n[0].toUpperCase()), 'some name starts lower-case').to.equal(true);
    } finally {
      await big.close();
    }
  });

  it('other lists default to id ascending', async () => {
    for (const entity of ['order', 'test', 'batch'] as const) {
      const r = await api(sim, token, entity, { page_size: 10 });
      expect(ids(r.json.data)).to.deep.equal(sim.truth.ids(entity).slice(0, 10));
    }
  });

  it('envelope: total_count, total_pages, data and exactly one random extra key that varies per response', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const r = await api(sim, token, 'order', { page_size: 10 });
      expect(r.status).to.equal(200);
      const extra = extraKeys(r.json, ['total_count', 'total_pages', 'data']);
      expect(extra).to.have.length(1);
      expect(extra[0]).to.match(/^qb[0-9a-f]+$/);
      expect(r.json[extra[0]]).to.match(/^[0-9a-f]{7,12}$/);
      seen.add(`${extra[0]}=${r.json[extra[0]]}`);
      expect(r.json.total_count).to.equal(sim.truth.count('order'));
      expect(r.json.total_pages).to.equal(Math.ceil(sim.truth.count('order') / 10));
    }
    expect(seen.size).to.equal(5);
  });

  it('total_count is null for batches (total_pages still set)', async () => {
    const r = await api(sim, token, 'batch', { page_size: 50 });
    expect(r.json.total_count).to.equal(null);
    expect(r.json.total_pages).to.equal(Math.ceil(sim.truth.count('batch') / 50));
  });

  it('page_size above 50 is clamped to 50; default page_size is 50', async () => {
    const r = await api(sim, token, 'test', { page_size: 500 });
    expect(r.status).to.equal(200);
    expect(r.json.data).to.have.length(50);
    expect(r.json.total_pages).to.equal(Math.ceil(sim.truth.count('test') / 50));
    const d = await api(sim, token, 'test');
    expect(d.json.data).to.have.length(50);
  });

  it('a page past the end returns data: [] with the real totals', async () => {
    const r = await api(sim, token, 'order', { page_num: 999, page_size: 50 });
    expect(r.status).to.equal(200);
    expect(r.json.data).to.deep.equal([]);
    expect(r.json.total_count).to.equal(sim.truth.count('order'));
  });

  it('rejects bad paging and sorting parameters with 400 invalid_request', async () => {
    for (const params of <Record<string, string | number>[]>[{ page_size: 0 }, { page_size: -5 }, { page_size: 'abc' }, { page_num: 0 }, { page_num: 'x' }, { sort_by: 'color' }, { sort_order: 'sideways' }, { customer_ids: 'x' }]) {
      const r = await api(sim, token, 'order', params);
      expect(r.status, JSON.stringify(params)).to.equal(400);
      expect(r.json.error).to.equal('invalid_request');
    }
  });

  it('accepts the documented sort fields of every entity', async () => {
    for (const entity of SIM_ENTITIES) {
      for (const field of sortFields(entity)) {
        const r = await api(sim, token, entity, { sort_by: field, sort_order: 'DESC', page_size: 5 });
        expect(r.status, `${entity} ${field}`).to.equal(200);
      }
    }
  });

  it('details: bare object with one extra key; 404 for unknown ids', async () => {
    for (const entity of SIM_ENTITIES) {
      const id = sim.truth.ids(entity)[0];
      const r = await api(sim, token, `${entity}/${id}`, { include_raw_worksheet_data: true });
      expect(r.status).to.equal(200);
      const truth = sim.truth.get(entity, id)!;
      const extra = extraKeys(r.json, Object.keys(truth));
      expect(extra, entity).to.have.length(1);
      delete r.json[extra[0]];
      expect(r.json).to.deep.equal(truth);
      const missing = await api(sim, token, `${entity}/${sim.truth.count(entity, { includeDeleted: true }) + 100}`);
      expect(missing.status).to.equal(404);
      expect(missing.json).to.have.keys('error', 'error_description');
    }
    expect((await api(sim, token, 'test/abc')).status).to.equal(404);
  });

  it('sample detail embeds tests[]; order detail embeds samples[] with tests[]', async () => {
    const sampleId = sim.truth.ids('sample')[3];
    const s = (await api(sim, token, `sample/${sampleId}`)).json;
    expect(s.tests).to.be.an('array').that.is.not.empty;
    expect(s.tests.every((t: Record<string, unknown>) => t.sample_id === sampleId)).to.equal(true);
    const orderId = sim.truth.ids('order')[2];
    const o = (await api(sim, token, `order/${orderId}`)).json;
    expect(o.samples).to.be.an('array').that.is.not.empty;
    for (const smp of o.samples) {
      expect(smp.order_id).to.equal(orderId);
      expect(smp.tests).to.be.an('array').that.is.not.empty;
    }
    expect(o.samples).to.have.length(o.sample_count);
    // list items do not embed children
    const list = await api(sim, token, 'sample', { page_size: 5 });
    expect(list.json.data[0]).to.not.have.property('tests');
  });

  it('filters: customer_ids, order_ids (and order_id), sample_ids, ids, as repeated keys', async () => {
    const orders = sim.truth.ids('order').map((id) => sim.truth.get('order', id)!);
    const customers = [...new Set(orders.map((o) => Number(o.customer_account_id)))].slice(0, 2);
    const wantOrders = orders.filter((o) => customers.includes(Number(o.customer_account_id))).map((o) => Number(o.id));
    expect(ids(await pageAll(sim, token, 'order', { customer_ids: customers }))).to.deep.equal(wantOrders);

    const allSamples = sim.truth.ids('sample').map((id) => sim.truth.get('sample', id)!);
    const pickOrders = wantOrders.slice(0, 3);
    const wantSamples = allSamples.filter((s) => pickOrders.includes(Number(s.order_id))).map((s) => Number(s.id));
    expect(ids(await pageAll(sim, token, 'sample', { order_ids: pickOrders }))).to.deep.equal(wantSamples);
    expect(ids(await pageAll(sim, token, 'sample', { order_id: pickOrders[0] }))).to.deep.equal(
      allSamples.filter((s) => Number(s.order_id) === pickOrders[0]).map((s) => Number(s.id)),
    );
    const wantCustSamples = allSamples.filter((s) => wantOrders.includes(Number(s.order_id))).map((s) => Number(s.id));
    expect(ids(await pageAll(sim, token, 'sample', { customer_ids: customers }))).to.deep.equal(wantCustSamples);

    const allTests = sim.truth.ids('test').map((id) => sim.truth.get('test', id)!);
    const pickSamples = wantSamples.slice(0, 2);
    expect(ids(await pageAll(sim, token, 'test', { sample_ids: pickSamples }))).to.deep.equal(
      allTests.filter((t) => pickSamples.includes(Number(t.sample_id))).map((t) => Number(t.id)),
    );
    expect(ids(await pageAll(sim, token, 'test', { customer_ids: customers }))).to.deep.equal(
      allTests.filter((t) => wantCustSamples.includes(Number(t.sample_id))).map((t) => Number(t.id)),
    );
    expect(ids(await pageAll(sim, token, 'test', { order_ids: pickOrders }))).to.deep.equal(
      allTests.filter((t) => wantSamples.includes(Number(t.sample_id))).map((t) => Number(t.id)),
    );
    expect(ids(await pageAll(sim, token, 'test', { ids: [5, 3, 9] }))).to.deep.equal([3, 5, 9]);
    const filtered = await api(sim, token, 'test', { sample_ids: pickSamples });
    expect(filtered.json.total_count).to.equal(filtered.json.data.length);
  });

  it('worksheet data is included with either spelling of include_raw_worksheet_data', async () => {
    const plain = await api(sim, token, 'test', { page_size: 50, sort_by: 'id', sort_order: 'desc' });
    expect(plain.json.data.every((t: Record<string, unknown>) => !('worksheet_data' in t))).to.equal(true);
    for (const key of ['include_raw_worksheet_data', 'include_raw_worsksheet_data']) {
      const r = await api(sim, token, 'test', { page_size: 50, [key]: true });
      expect(r.status).to.equal(200);
      expect(r.json.data.filter((t: Record<string, unknown>) => 'worksheet_data' in t).length, key).to.be.above(40);
    }
  });

  it('some test list items lack label_abbr/title/has_report/report_completed_date; details never do', async () => {
    const quirky = await startSim({ size: 'tiny', seed: 7, missingFieldRate: 0.3 });
    try {
      const t = await getToken(quirky);
      const items = await pageAll(quirky, t, 'test');
      const lacking = items.filter((i) => !('label_abbr' in i) || !('has_report' in i));
      expect(lacking.length).to.be.within(items.length * 0.15, items.length * 0.45);
      for (const item of lacking.slice(0, 5)) {
        expect(item.assay).to.have.keys('id', 'label_abbr', 'title'); // still under assay
        const detail = (await api(quirky, t, `test/${item.id}`)).json;
        expect(detail).to.include.keys('label_abbr', 'title', 'has_report', 'report_completed_date');
      }
      const none = await startSim({ size: 'tiny', seed: 7, missingFieldRate: 0 });
      try {
        const t2 = await getToken(none);
        const full = await pageAll(none, t2, 'test');
        expect(full.every((i) => 'label_abbr' in i && 'title' in i && 'has_report' in i && 'report_completed_date' in i)).to.equal(true);
      } finally {
        await none.close();
      }
    } finally {
      await quirky.close();
    }
  });

  it('fields use QBench formats: MM/DD/YYYY hh:mm AM/PM, date-only date_order_reported, last_updated unix string', async () => {
    const check = (entity: SimEntity, fields: string[]): void => {
      for (const id of sim.truth.ids(entity)) {
        const o = sim.truth.get(entity, id)!;
        expect(o.last_updated, `${entity} ${id}`).to.match(UNIX_STRING);
        for (const f of fields) if (o[f] !== null) expect(o[f], `${entity} ${id} ${f}`).to.match(DATE_TIME);
      }
    };
    check('order', ['date_created', 'date_received', 'date_completed']);
    check('sample', ['date_created', 'completed_date', 'start_date']);
    check('test', ['date_created', 'start_date', 'complete_date', 'report_completed_date']);
    check('batch', ['date_created', 'date_prepared']);
    check('customer', ['date_created']);
    const reported = sim.truth.ids('order').map((id) => sim.truth.get('order', id)!).filter((o) => o.date_order_reported);
    expect(reported.length).to.be.above(0);
    for (const o of reported) expect(o.date_order_reported).to.match(DATE_ONLY);
    const customers = sim.truth.ids('customer').map((id) => sim.truth.get('customer', id)!);
    expect(customers.some((c) => c.date_created === null), 'legacy customers without date_created').to.equal(true);
    expect(customers.every((c) => c.deleted === false)).to.equal(true);
  });

  it('unknown API paths answer 404', async () => {
    expect((await api(sim, token, 'widget')).status).to.equal(404);
    expect((await api(sim, token, 'test/1/extra')).status).to.equal(404);
  });
});
