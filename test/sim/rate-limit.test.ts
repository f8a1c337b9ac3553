import { expect } from 'chai';
import type { Simulator } from '../../sim/index.js';
import { api, getToken, startSim } from './helpers.js';

const RETRY_TEXT = /^ratelimit exceeded 300 per 60 seconds \[current count: (\d+)\]\. Retry in (\d+) seconds$/;

describe('sim: rate limit (300 requests / 60 s per client)', () => {
  let sim: Simulator;
  let token: string;
  before(async () => {
    sim = await startSim({ rateLimit: { enabled: true } });
    token = await getToken(sim);
  });
  after(() => sim.close());

  it('answers the 301st request inside the window with 429, X-QBAPI-Throttle-TTL and "Retry in N seconds"', async () => {
    // 300 requests in parallel batches of 50 (fast, and all within the window).
    for (let i = 0; i < 6; i++) {
      const replies = await Promise.all(Array.from({ length: 50 }, () => api(sim, token, 'assay', { page_size: 1 })));
      expect(replies.map((r) => r.status).every((s) => s === 200), `batch ${i}`).to.equal(true);
    }
    // Token requests do not count against the budget.
    const token2 = await getToken(sim);
    const r = await api(sim, token2, 'assay');
    expect(r.status).to.equal(429);
    const ttl = Number(r.headers.get('x-qbapi-throttle-ttl'));
    expect(ttl).to.be.within(1, 60);
    expect(r.json.error).to.equal('rate_limited');
    const m = RETRY_TEXT.exec(r.json.error_description);
    expect(m, r.json.error_description).to.not.equal(null);
    expect(Number(m![1])).to.be.above(300);
    expect(Number(m![2])).to.equal(ttl);
    // Still limited on the next try, and the rejected requests keep counting in the message.
    const again = await api(sim, token, 'assay');
    expect(again.status).to.equal(429);
    expect(Number(RETRY_TEXT.exec(again.json.error_description)![1])).to.be.above(Number(m![1]));
    expect(sim.stats().byStatus['429']).to.equal(2);
  });

  it('turns off with setRateLimit({enabled:false}) and back on', async () => {
    sim.setRateLimit({ enabled: false });
    expect((await api(sim, token, 'assay')).status).to.equal(200);
    sim.setRateLimit({ enabled: true });
    expect((await api(sim, token, 'assay')).status).to.equal(429);
  });

  it('is configurable over PUT /_sim/rate-limit', async () => {
    const res = await fetch(`${sim.url}/_sim/rate-limit`, { method: 'PUT', body: JSON.stringify({ enabled: false }) });
    expect(res.status).to.equal(200);
    expect(((await res.json()) as Record<string, unknown>).enabled).to.equal(false);
    expect((await api(sim, token, 'assay')).status).to.equal(200);
  });

  it('frees slots as the sliding window moves', async () => {
    const small = await startSim({ rateLimit: { enabled: true, limit: 5, windowSeconds: 1 } });
    try {
      const t = await getToken(small);
      for (let i = 0; i < 5; i++) expect((await api(small, t, 'assay')).status).to.equal(200);
      const limited = await api(small, t, 'assay');
      expect(limited.status).to.equal(429);
      expect(limited.headers.get('x-qbapi-throttle-ttl')).to.equal('1');
      expect(limited.json.error_description).to.match(/ratelimit exceeded 5 per 1 seconds \[current count: 6\]\. Retry in 1 seconds/);
      await new Promise((r) => setTimeout(r, 1050));
      expect((await api(small, t, 'assay')).status).to.equal(200);
    } finally {
      await small.close();
    }
  });

  it('records request times for budget checks', async () => {
    const s = sim.stats();
    expect(s.requestTimes).to.have.length(s.requests);
    expect(s.requestTimes.every((t) => Math.abs(t - Date.now()) < 120_000)).to.equal(true);
  });
});
