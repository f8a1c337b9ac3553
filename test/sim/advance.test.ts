import { expect } from 'chai';
import { parseQbDate, type SimEntity, type Simulator } from '../../sim/index.js';
import { api, getToken, pageAll, startSim } from './helpers.js';

type Obj = Record<string, unknown>;
const HOUR = 3600;

describe('sim: advance() and the v1 Updates feed', () => {
  let sim: Simulator;
  let token: string;
  let before0: number;
  let after0: number;
  let result: { created: number; updated: number; deleted: number };
  const snapshot = new Map<SimEntity, Map<number, Obj>>();
  const deletedBefore = new Map<SimEntity, number[]>();

  before(async () => {
    sim = await startSim({ size: 'small', seed: 77 });
    token = await getToken(sim);
    for (const e of ['customer', 'order', 'sample', 'test', 'batch', 'report'] as const) {
      snapshot.set(e, new Map(sim.truth.ids(e).map((id) => [id, sim.truth.get(e, id)!])));
      deletedBefore.set(e, sim.truth.deletedIds(e));
    }
    before0 = Math.floor(sim.now().getTime() / 1000);
    result = sim.advance(24);
    after0 = Math.floor(sim.now().getTime() / 1000);
  });
  after(() => sim.close());

  it('moves the simulated clock and reports created, updated and deleted counts', () => {
    expect(after0 - before0).to.equal(24 * HOUR);
    expect(result.created).to.be.above(10);
    expect(result.updated).to.be.above(10);
    expect(result.deleted).to.be.at.least(1);
  });

  it('creates new orders, samples, tests, batches and reports dated inside the interval', () => {
    for (const e of ['order', 'sample', 'test', 'batch', 'report'] as const) {
      const old = snapshot.get(e)!;
      const fresh = sim.truth.ids(e).filter((id) => !old.has(id) && !deletedBefore.get(e)!.includes(id));
      expect(fresh.length, e).to.be.above(0);
      const maxOld = Math.max(...old.keys());
      for (const id of fresh) {
        expect(id, `${e} ids grow`).to.be.above(maxOld);
        const o = sim.truth.get(e, id)!;
        const created = parseQbDate(String(o.date_created ?? o.date_generated));
        expect(created, `${e} ${id}`).to.be.within(before0 - 59, after0);
        expect(Number(o.last_updated)).to.be.within(before0 + 1, after0);
      }
    }
  });

  it('progresses old records: an old test becomes REPORTED with report_completed_date and last_updated in the interval', () => {
    const old = snapshot.get('test')!;
    const changed = [...old.values()].filter((t) => {
      const now = sim.truth.get('test', Number(t.id));
      return now && now.state !== t.state;
    });
    expect(changed.length).to.be.above(5);
    const weeksOld = changed
      .map((t) => sim.truth.get('test', Number(t.id))!)
      .filter((t) => t.state === 'REPORTED' && parseQbDate(String(t.date_created)) <= before0 - 7 * 24 * HOUR);
    expect(weeksOld.length, 'a test created a week or more ago was reported now').to.be.at.least(1);
    for (const t of weeksOld) {
      expect(parseQbDate(String(t.report_completed_date))).to.be.within(before0, after0);
      expect(Number(t.last_updated)).to.be.within(before0 + 1, after0);
    }
    for (const t of changed) expect(Number(sim.truth.get('test', Number(t.id))!.last_updated)).to.be.above(Number(t.last_updated));
  });

  it('every changed record has a newer last_updated; none goes back', () => {
    for (const e of ['order', 'sample', 'test', 'customer', 'batch'] as const) {
      const strip = (o: Obj): Obj => {
        const { last_updated: _lu, samples: _s, tests: _t, worksheet_data: _w, ...rest } = o;
        return rest;
      };
      for (const [id, was] of snapshot.get(e)!) {
        const now = sim.truth.get(e, id);
        if (!now) continue; // deleted
        if (JSON.stringify(strip(now)) !== JSON.stringify(strip(was))) {
          expect(Number(now.last_updated), `${e} ${id} changed`).to.be.above(before0);
        } else {
          // A bump without a visible change is allowed (QBench has fields it does not serve); going back is not.
          expect(Number(now.last_updated), `${e} ${id} unchanged`).to.be.at.least(Number(was.last_updated));
        }
      }
    }
  });

  it('deletes records: gone from lists and details, listed as deleted by the Updates feed', async () => {
    const newlyDeleted = sim.truth.deletedIds('test').filter((id) => !deletedBefore.get('test')!.includes(id));
    expect(newlyDeleted.length).to.be.at.least(1);
    const existedBefore = newlyDeleted.filter((id) => snapshot.get('test')!.has(id));
    expect(existedBefore.length, 'a test that existed before the advance was deleted').to.be.at.least(1);
    for (const id of newlyDeleted) {
      expect((await api(sim, token, `test/${id}`)).status).to.equal(404);
    }
    const listed = new Set((await pageAll(sim, token, 'test', { sort_by: 'last_updated', sort_order: 'desc' })).map((t) => t.id));
    for (const id of newlyDeleted) expect(listed.has(id)).to.equal(false);
    const feed = await api(sim, token, `updates/test/${before0}`);
    expect(feed.status).to.equal(200);
    expect(feed.json.deleted).to.deep.equal(newlyDeleted);
    for (const id of newlyDeleted) expect(feed.json.updated).to.not.include(id);
  });

  for (const e of ['customer', 'order', 'sample', 'test'] as const) {
    it(`updates/${e}/{ts} lists exactly the ids whose last_updated > ts (created ones included)`, async () => {
      const feed = await api(sim, token, `updates/${e}/${before0}`);
      expect(feed.status).to.equal(200);
      const want = sim.truth.ids(e).filter((id) => Number(sim.truth.get(e, id)!.last_updated) > before0);
      expect(feed.json.updated).to.deep.equal(want);
      expect(want.length, e).to.be.above(0);
      const created = sim.truth.ids(e).filter((id) => !snapshot.get(e)!.has(id) && !deletedBefore.get(e)!.includes(id));
      for (const id of created) expect(feed.json.updated).to.include(id);
      // A timestamp at now returns nothing.
      const none = await api(sim, token, `updates/${e}/${after0}`);
      expect(none.json.updated).to.deep.equal([]);
      expect(none.json.deleted).to.deep.equal([]);
    });
  }

  it('updates with return_objects=true returns the full objects', async () => {
    const feed = await api(sim, token, `updates/test/${before0}`, { return_objects: true, include_raw_worksheet_data: true });
    expect(feed.status).to.equal(200);
    const ids = sim.truth.ids('test').filter((id) => Number(sim.truth.get('test', id)!.last_updated) > before0);
    expect(feed.json.updated.map((o: Obj) => o.id)).to.deep.equal(ids);
    for (const o of feed.json.updated.slice(0, 50)) expect(o).to.deep.equal(sim.truth.get('test', o.id));
    expect(feed.json.deleted.every((d: unknown) => typeof d === 'number')).to.equal(true);
    const samples = await api(sim, token, `updates/sample/${before0}`, { return_objects: 'true' });
    for (const o of samples.json.updated.slice(0, 20)) {
      const { tests: _tests, ...want } = sim.truth.get('sample', o.id)!;
      expect(o).to.deep.equal(want);
    }
  });

  it('has no batch (or report) feed; contact and assay feeds exist; bad timestamps are 400', async () => {
    expect((await api(sim, token, `updates/batch/${before0}`)).status).to.equal(404);
    expect((await api(sim, token, `updates/report/${before0}`)).status).to.equal(404);
    const contact = await api(sim, token, `updates/contact/${before0}`);
    expect(contact.status).to.equal(200);
    expect(contact.json).to.include({}).and.have.property('updated').that.deep.equals([]);
    const assay = await api(sim, token, `updates/assay/0`);
    expect(assay.json.updated).to.have.length(16);
    expect((await api(sim, token, `updates/assay/${before0}`)).json.updated).to.deep.equal([]);
    expect((await api(sim, token, 'updates/test/yesterday')).status).to.equal(400);
  });

  it('advance(0) changes nothing; negative hours throw', () => {
    const t = sim.now().getTime();
    expect(sim.advance(0)).to.deep.equal({ created: 0, updated: 0, deleted: 0 });
    expect(sim.now().getTime()).to.equal(t);
    expect(() => sim.advance(-1)).to.throw(RangeError);
  });

  it('POST /_sim/advance and GET /_sim/now work from another process', async () => {
    const nowRes = (await (await fetch(`${sim.url}/_sim/now`)).json()) as { now: string; unix: number };
    expect(nowRes.unix).to.equal(Math.floor(sim.now().getTime() / 1000));
    const res = await fetch(`${sim.url}/_sim/advance`, { method: 'POST', body: JSON.stringify({ hours: 2 }) });
    expect(res.status).to.equal(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).to.include.keys('created', 'updated', 'deleted', 'now');
    expect(Math.floor(new Date(String(body.now)).getTime() / 1000)).to.equal(nowRes.unix + 2 * HOUR);
    const bad = await fetch(`${sim.url}/_sim/advance`, { method: 'POST', body: JSON.stringify({ hours: 'x' }) });
    expect(bad.status).to.equal(400);
  });
});

describe('sim: advance determinism and small labs', () => {
  it('same seed and the same sequence of advances give the same data', async () => {
    const [a, b] = await Promise.all([startSim({ size: 'tiny', seed: 8 }), startSim({ size: 'tiny', seed: 8 })]);
    try {
      for (const h of [24, 6, 48, 1]) expect(a.advance(h)).to.deep.equal(b.advance(h));
      for (const e of ['customer', 'order', 'sample', 'test', 'batch', 'report'] as const) {
        expect(a.truth.ids(e, { includeDeleted: true })).to.deep.equal(b.truth.ids(e, { includeDeleted: true }));
        for (const id of a.truth.ids(e)) expect(a.truth.get(e, id)).to.deep.equal(b.truth.get(e, id));
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a tiny lab shows new, changed and deleted records after every advance of an hour or more', async () => {
    const sim = await startSim({ size: 'tiny', seed: 9 });
    try {
      for (let i = 0; i < 10; i++) {
        const r = sim.advance(i % 2 ? 1 : 24);
        expect(r.created, `advance ${i}`).to.be.at.least(1);
        expect(r.updated, `advance ${i}`).to.be.at.least(1);
        expect(r.deleted, `advance ${i}`).to.be.at.least(1);
      }
    } finally {
      await sim.close();
    }
  });
});
