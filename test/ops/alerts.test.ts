import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { startBoss, type PgBoss } from '../../core/boss.js';
import { startWorker, enqueueSync, type Worker } from '../../jobs/index.js';
import { createAlerter, type AlertMessage } from '../../ops/index.js';
import type { SyncOutcome } from '../../ingest/index.js';
import type { Simulator } from '../../sim/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator, cliEnv, TEST_CLIENT_SECRET } from '../helpers/sim.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/jobs.js';
import { capture, FAST, testConfig } from './helpers.js';

/** A webhook receiver on 127.0.0.1 that records every POST; the first `failFirst` answer 500. */
async function receiver(failFirst = 0) {
  const received: Array<{ body: string; headers: http.IncomingHttpHeaders }> = [];
  let calls = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      calls++;
      if (calls <= failFirst) {
        res.writeHead(500).end('try again');
        return;
      }
      received.push({ body, headers: req.headers });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/T0/secret-hook-path`;
  return {
    url, received, calls: () => calls,
    messages: () => received.map((r) => JSON.parse(r.body) as AlertMessage),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const outcome = (o: Partial<SyncOutcome>): SyncOutcome => ({
  runId: '00000000-0000-4000-8000-000000000001', status: 'succeeded', entities: [], requests: 10, retries: 0, rateLimited: 0, durationMs: 5, ...o,
});

describe('ops: webhook alerts', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let sim: Simulator | undefined;
  let hook: Awaited<ReturnType<typeof receiver>> | undefined;
  let worker: Worker | undefined;
  let boss: PgBoss | undefined;

  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await boss?.stop({ graceful: false, wait: true }).catch(() => undefined);
    boss = undefined;
    await sim?.close();
    sim = undefined;
    await hook?.close();
    hook = undefined;
    await db.drop();
  });

  it('a worker\'s sync failing on an all-5xx QBench sends sync_failed (retried after a 500), without secrets', async () => {
    hook = await receiver(1);
    sim = await testSimulator({ faults: { errorRate: 1 } });
    const config = testConfig({ QBSYNC_ALERT_WEBHOOK: hook.url, QBENCH_RATE_LIMIT: '1000000' });
    const { logger, text } = capture();
    worker = await startWorker({ db, config, logger, baseUrl: sim.url, clientOverrides: FAST, reapIntervalMs: 60_000 });
    boss = await startBoss(db.url);
    const { runId } = await enqueueSync(db, boss, { mode: 'full', entities: ['customers'], requestedBy: 'api' });
    await waitFor(() => hook!.received.length > 0, 30_000, 'the alert');
    const [m] = hook.messages();
    expect(m).to.include({ event: 'sync_failed', severity: 'critical', run_id: runId, entity: 'customers' });
    expect(m.message).to.match(new RegExp(`sync run ${runId} failed: customers: .*HTTP 5\\d\\d`));
    expect(Object.keys(m).sort()).to.deep.equal(['at', 'details', 'entity', 'event', 'message', 'run_id', 'severity']);
    expect(Date.parse(m.at)).to.be.closeTo(Date.now(), 30_000);
    expect(m.details).to.include({ status: 'failed' });
    expect(hook.calls(), 'the 500 was retried').to.equal(2);
    expect(hook.received[0].headers['content-type']).to.equal('application/json');
    for (const r of hook.received) {
      expect(r.body).to.not.include(TEST_CLIENT_SECRET);
      expect(r.body).to.not.include('secret-hook-path');
      expect(r.body).to.not.match(/Bearer|eyJ/);
    }
    // Recorded as delivered after 2 tries; the log names the host only.
    await waitFor(async () => (await db.pool.query(`SELECT delivered FROM qbsync.alerts WHERE event = 'sync_failed'`)).rows[0]?.delivered === true, 5000, 'delivery recorded');
    const { rows: [a] } = await db.pool.query(`SELECT * FROM qbsync.alerts WHERE event = 'sync_failed'`);
    expect(a).to.include({ attempts: 2, run_id: runId });
    expect(text()).to.include(`delivered to 127.0.0.1:`);
    expect(text()).to.not.include('secret-hook-path');
    expect(text()).to.not.include(TEST_CLIENT_SECRET);
  });

  it('`qbsync sync` with a wrong secret fails (exit 1) and the webhook gets sync_failed with the run id', async () => {
    hook = await receiver();
    sim = await testSimulator();
    const r = await runCli(['sync', '--entity', 'customers'], cliEnv(db.url, sim, { QBSYNC_ALERT_WEBHOOK: hook.url, QBENCH_CLIENT_SECRET: 'wrong-secret-0123456789' }));
    expect(r.code).to.equal(1);
    expect(hook.received).to.have.length(1);
    const [m] = hook.messages();
    expect(m.event).to.equal('sync_failed');
    expect(m.message).to.match(/token request .* failed with HTTP 401/);
    const { rows: [run] } = await db.pool.query(`SELECT run_id, status FROM qbsync.sync_runs`);
    expect(m.run_id).to.equal(run.run_id);
    expect(run.status).to.equal('failed');
    expect(hook.received[0].body).to.not.include('wrong-secret-0123456789');
    expect(r.stderr).to.not.include('wrong-secret-0123456789');
  });

  it('too many 429s in a run and a stale watermark (once per period) send warnings; an unreachable webhook never throws', async () => {
    hook = await receiver();
    const config = testConfig({ QBSYNC_ALERT_WEBHOOK: hook.url, QBSYNC_ALERT_RATE_LIMITED: '5', QBSYNC_ALERT_STALE_HOURS: '24' });
    const alerter = createAlerter({ config, logger: capture().logger, pool: db.pool, backoffMs: 10 });
    await db.pool.query(
      `INSERT INTO qbsync.watermarks (entity, since_at, source, updated_at) VALUES
         ('tests', now() - interval '40 hours', 'updates', now() - interval '30 hours'),
         ('samples', now() - interval '1 hour', 'updates', now())`,
    );
    const sent = await alerter.afterSync(outcome({ rateLimited: 6 }));
    expect(sent.map((m) => `${m.event}:${m.entity ?? ''}`)).to.deep.equal(['rate_limited:', 'watermark_stale:tests']);
    const msgs = hook.messages();
    expect(msgs[0]).to.include({ event: 'rate_limited', severity: 'warning', run_id: outcome({}).runId });
    expect(msgs[0].details).to.include({ rate_limited: 6, threshold: 5 });
    expect(msgs[1]).to.include({ event: 'watermark_stale', severity: 'warning', entity: 'tests' });
    expect(msgs[1].message).to.match(/tests: no successful catch-up for 30 hours/);
    // The same staleness is not alerted again within the period; a healthy run sends nothing.
    expect(await alerter.afterSync(outcome({ rateLimited: 5 }))).to.deep.equal([]);
    expect(hook.received).to.have.length(2);

    await hook.close();
    const started = Date.now();
    const dead = createAlerter({ config: testConfig({ QBSYNC_ALERT_WEBHOOK: hook.url }), logger: capture().logger, pool: db.pool, backoffMs: 10, attempts: 3 });
    const r = await dead.raise({ event: 'sync_failed', severity: 'critical', message: 'test' });
    expect(r.delivered).to.equal(false);
    expect(r.attempts).to.equal(3);
    expect(Date.now() - started).to.be.lessThan(5000);
    hook = undefined;
  });
});
