import { expect } from 'chai';
import { networkInterfaces } from 'node:os';
import { runSimCommand } from '../../sim/cli.js';
import { SIM_ENTITIES, signAssertion } from '../../sim/index.js';
import { api, getToken, JWT_GRANT, pageAll, startSim, tokenRequest } from './helpers.js';

describe('sim: admin endpoints, stats and the sim command', () => {
  it('GET /_sim/stats counts API requests by status and path; reset-stats clears', async () => {
    const sim = await startSim();
    try {
      const token = await getToken(sim);
      await api(sim, token, 'order', { page_size: 5 });
      await api(sim, token, 'order/1');
      await api(sim, token, 'order/999999');
      await api(sim, token, 'updates/order/0');
      const stats = (await (await fetch(`${sim.url}/_sim/stats`)).json()) as Record<string, Record<string, number>>;
      expect(stats.requests).to.equal(4);
      expect(stats.tokenRequests).to.equal(1);
      expect(stats.byStatus).to.deep.equal({ '200': 3, '404': 1 });
      expect(stats.byPath).to.deep.equal({
        'GET /qbench/api/v1/order': 1,
        'GET /qbench/api/v1/order/:id': 2,
        'GET /qbench/api/v1/updates/order/:ts': 1,
      });
      await fetch(`${sim.url}/_sim/reset-stats`, { method: 'POST' });
      expect(sim.stats().requests).to.equal(0);
      const info = (await (await fetch(`${sim.url}/_sim/info`)).json()) as { size: string; counts: Record<string, number> };
      expect(info.size).to.equal('tiny');
      expect(info.counts.test).to.equal(sim.truth.count('test'));
      expect((await fetch(`${sim.url}/_sim/nope`)).status).to.equal(404);
    } finally {
      await sim.close();
      await sim.close(); // idempotent
    }
  });

  it('a full sync of tiny (every entity, every page) takes well under 2 s', async () => {
    const sim = await startSim({ size: 'tiny', seed: 1, rateLimit: { enabled: true } });
    try {
      const token = await getToken(sim);
      const t0 = Date.now();
      let records = 0;
      for (const entity of SIM_ENTITIES) records += (await pageAll(sim, token, entity, { include_raw_worksheet_data: true })).length;
      const ms = Date.now() - t0;
      expect(records).to.be.above(800);
      expect(ms).to.be.below(2000);
      expect(sim.stats().requests).to.be.below(300); // fits one rate-limit window
    } finally {
      await sim.close();
    }
  });

  it('runSimCommand prints its start line, applies flags and advances the clock on a timer', async () => {
    const lines: string[] = [];
    const sim = await runSimCommand({ port: 0, size: 'tiny', seed: 4, rateLimit: false, errorRate: 0, latencyMs: 0, tickHours: 2, tickSeconds: 0.1, print: (l) => lines.push(l) });
    try {
      expect(lines).to.deep.equal([`QBench simulator (size tiny, seed 4) listening on ${sim.url}`]);
      const start = sim.now().getTime();
      await new Promise((r) => setTimeout(r, 350));
      const hours = (sim.now().getTime() - start) / 3_600_000;
      expect(hours).to.be.at.least(4);
      expect(hours % 2).to.equal(0);
      const res = await tokenRequest(sim, { grant_type: JWT_GRANT, assertion: signAssertion('qbsync-demo', 'qbsync-demo-secret') });
      expect(res.status).to.equal(200);
    } finally {
      await sim.close();
    }
    const after = sim.now().getTime();
    await new Promise((r) => setTimeout(r, 250));
    expect(sim.now().getTime(), 'ticking stops on close').to.equal(after);
  });

  it('admin endpoints refuse non-loopback clients', async function () {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && !i.internal && i.family === 'IPv4');
    if (!external) this.skip(); // no non-loopback interface on this machine
    const sim = await startSim({ host: '0.0.0.0' });
    try {
      expect((await fetch(`http://127.0.0.1:${sim.port}/_sim/now`)).status).to.equal(200);
      const res = await fetch(`http://${external!.address}:${sim.port}/_sim/now`);
      expect(res.status).to.equal(403);
      const adv = await fetch(`http://${external!.address}:${sim.port}/_sim/advance`, { method: 'POST', body: '{"hours":1}' });
      expect(adv.status).to.equal(403);
      expect(sim.now().toISOString()).to.equal('2026-11-20T12:00:00.000Z');
    } finally {
      await sim.close();
    }
  });
});
