import { expect } from 'chai';
import { badTestPageKind, type Simulator } from '../../sim/index.js';
import { api, getToken, startSim } from './helpers.js';

describe('sim: fault injection', () => {
  let sim: Simulator;
  let token: string;
  before(async () => {
    sim = await startSim({ size: 'small', seed: 11 });
    token = await getToken(sim);
  });
  afterEach(() => sim.setFaults({}));
  after(() => sim.close());

  it('errorRate 1 answers every API request with 500, 502 or 503 (502/503 as proxy HTML)', async () => {
    sim.setFaults({ errorRate: 1 });
    const seen = new Set<number>();
    for (let i = 0; i < 30; i++) {
      const r = await api(sim, token, 'order', { page_size: 5 });
      expect([500, 502, 503]).to.include(r.status);
      seen.add(r.status);
      if (r.status === 500) expect(r.json.error).to.equal('server_error');
      else {
        expect(r.headers.get('content-type')).to.match(/text\/html/);
        expect(r.json).to.equal(undefined);
      }
    }
    expect(seen.size).to.equal(3);
    // Token and admin requests are not faulted.
    await getToken(sim);
    expect((await fetch(`${sim.url}/_sim/now`)).status).to.equal(200);
  });

  it('errorRate 0.3 fails roughly 30% of requests', async () => {
    sim.setFaults({ errorRate: 0.3 });
    let failed = 0;
    for (let i = 0; i < 200; i++) if ((await api(sim, token, 'assay')).status >= 500) failed++;
    expect(failed).to.be.within(35, 85);
  });

  it('latencyMs delays every API request', async () => {
    sim.setFaults({ latencyMs: 150 });
    const t0 = Date.now();
    const r = await api(sim, token, 'assay');
    expect(r.status).to.equal(200);
    expect(Date.now() - t0).to.be.at.least(140);
    sim.setFaults({});
    const t1 = Date.now();
    await api(sim, token, 'assay');
    expect(Date.now() - t1).to.be.below(140);
  });

  it('hangRate 1 never answers; the client times out and close() still returns', async () => {
    const hanging = await startSim({ faults: { hangRate: 1 } });
    const t = await getToken(hanging);
    const t0 = Date.now();
    let error: unknown;
    try {
      await fetch(`${hanging.url}/qbench/api/v1/order`, { headers: { authorization: `Bearer ${t}` }, signal: AbortSignal.timeout(300) });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(Error);
    expect((error as Error).name).to.match(/TimeoutError|AbortError/);
    expect(Date.now() - t0).to.be.within(250, 2000);
    expect(hanging.stats().byStatus.hang).to.equal(1);
    const c0 = Date.now();
    await hanging.close();
    expect(Date.now() - c0).to.be.below(1000);
  });

  it('dropRate 1 destroys the socket without a response', async () => {
    sim.setFaults({ dropRate: 1 });
    let error: unknown;
    try {
      await fetch(`${sim.url}/qbench/api/v1/order`, { headers: { authorization: `Bearer ${token}` } });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(TypeError); // undici: "fetch failed" (other side closed)
    expect(sim.stats().byStatus.drop).to.be.at.least(1);
  });

  it('malformedRate 1 sends 200 list and detail bodies that are not valid JSON', async () => {
    sim.setFaults({ malformedRate: 1 });
    for (let i = 0; i < 10; i++) {
      const list = await api(sim, token, 'order', { page_size: 20 });
      expect(list.status).to.equal(200);
      expect(() => JSON.parse(list.text)).to.throw();
      const detail = await api(sim, token, 'order/1');
      expect(detail.status).to.equal(200);
      expect(() => JSON.parse(detail.text)).to.throw();
    }
    // Error responses stay well-formed.
    const bad = await api(sim, token, 'order', { page_size: 0 });
    expect(bad.status).to.equal(400);
    expect(bad.json.error).to.equal('invalid_request');
  });

  it('badTestPageRate: soft pages 400 with include_raw_worksheet_data and pass with the typo spelling; hard pages fail both', async () => {
    const rate = 0.3;
    sim.setFaults({ badTestPageRate: rate });
    const totalPages = Math.ceil(sim.truth.count('test') / 50);
    const soft: number[] = [];
    const hard: number[] = [];
    for (let p = 1; p <= totalPages; p++) {
      const kind = badTestPageKind(11, p, rate);
      if (kind === 'soft') soft.push(p);
      if (kind === 'hard') hard.push(p);
    }
    expect(soft.length, 'some soft pages').to.be.above(5);
    expect(hard.length, 'some hard pages').to.be.above(1);
    expect(hard.length).to.be.below(soft.length);
    for (const p of soft.slice(0, 5)) {
      const correct = await api(sim, token, 'test', { page_num: p, page_size: 50, include_raw_worksheet_data: true });
      expect(correct.status).to.equal(400);
      expect(correct.json.error).to.equal('invalid_request');
      const typo = await api(sim, token, 'test', { page_num: p, page_size: 50, include_raw_worsksheet_data: true });
      expect(typo.status).to.equal(200);
      expect(typo.json.data).to.have.length(50);
      expect(typo.json.data[0]).to.have.property('worksheet_data');
    }
    for (const p of hard.slice(0, 3)) {
      for (const key of ['include_raw_worksheet_data', 'include_raw_worsksheet_data']) {
        const r = await api(sim, token, 'test', { page_num: p, page_size: 50, [key]: true });
        expect(r.status, `${p} ${key}`).to.equal(400);
      }
    }
    const good = Array.from({ length: totalPages }, (_, i) => i + 1).find((p) => !badTestPageKind(11, p, rate))!;
    expect((await api(sim, token, 'test', { page_num: good, include_raw_worksheet_data: true })).status).to.equal(200);
    // Only test lists are affected.
    expect((await api(sim, token, 'sample', { page_num: soft[0], include_raw_worksheet_data: true })).status).to.equal(200);
    // The same pages are bad every time (deterministic by seed and page_num).
    expect((await api(sim, token, 'test', { page_num: soft[0], include_raw_worksheet_data: true })).status).to.equal(400);
  });

  it('rateLimitStorm answers every API request 429 with the TTL header, even with the limit off', async () => {
    sim.setRateLimit({ enabled: false });
    sim.setFaults({ rateLimitStorm: true });
    for (let i = 0; i < 5; i++) {
      const r = await api(sim, token, 'assay');
      expect(r.status).to.equal(429);
      expect(Number(r.headers.get('x-qbapi-throttle-ttl'))).to.be.within(1, 3);
      expect(r.json.error_description).to.match(/^ratelimit exceeded \d+ per \d+ seconds \[current count: \d+\]\. Retry in \d+ seconds$/);
    }
    sim.setFaults({});
    expect((await api(sim, token, 'assay')).status).to.equal(200);
  });

  it('faults switch over PUT /_sim/faults and reject bad values', async () => {
    const put = await fetch(`${sim.url}/_sim/faults`, { method: 'PUT', body: JSON.stringify({ errorRate: 1 }) });
    expect(put.status).to.equal(200);
    expect((await api(sim, token, 'assay')).status).to.be.at.least(500);
    await fetch(`${sim.url}/_sim/faults`, { method: 'PUT', body: '{}' });
    expect((await api(sim, token, 'assay')).status).to.equal(200);
    const bad = await fetch(`${sim.url}/_sim/faults`, { method: 'PUT', body: JSON.stringify({ errorRate: 2 }) });
    expect(bad.status).to.equal(400);
    expect(() => sim.setFaults({ dropRate: -1 })).to.throw(RangeError);
  });

  it('fault decisions are deterministic for a seed', async () => {
    const run = async (): Promise<number[]> => {
      const s = await startSim({ seed: 99, faults: { errorRate: 0.5 } });
      try {
        const t = await getToken(s);
        const statuses: number[] = [];
        for (let i = 0; i < 20; i++) statuses.push((await api(s, t, 'assay')).status);
        return statuses;
      } finally {
        await s.close();
      }
    };
    expect(await run()).to.deep.equal(await run());
  });
});
