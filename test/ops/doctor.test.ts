import { expect } from 'chai';
import { connect, loadConfig } from '../../core/index.js';
import { runDoctor, worstPer60s, nonDefaultValues, type DoctorReport } from '../../ops/index.js';
import type { Simulator } from '../../sim/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator, cliEnv, TEST_CLIENT_SECRET } from '../helpers/sim.js';
import { runCli } from '../helpers/cli.js';

const verdicts = (r: DoctorReport) => Object.fromEntries(r.checks.map((c) => [c.name, c.verdict]));

describe('ops: qbsync doctor', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let sim: Simulator;
  /** A real-QBench-like setup: QBENCH_BASE_URL set, default rate budget, the simulator's clock = ours. */
  let env: NodeJS.ProcessEnv;

  before(async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ now: new Date() });
    env = cliEnv(db.url, sim, { QBENCH_RATE_LIMIT: '295', QBSYNC_ALERT_WEBHOOK: 'https://hooks.example.com/services/T000/B000/XYZsecretpath' });
  });
  after(async () => {
    await sim?.close();
    await db?.drop();
  });

  it('a healthy setup: every check ok, exit 0 (text and --json)', async () => {
    const r = await runCli(['doctor'], env);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    for (const name of ['configuration', 'database', 'qbench', 'clock', 'rate budget', 'sync', 'alerts']) {
      expect(lines.some((l) => new RegExp(`^ok\\s+${name}\\s`).test(l)), `${name} ok in:\n${r.stdout}`).to.equal(true);
    }
    expect(r.stdout).to.match(/PostgreSQL 18\.\d+ .*\d+ migrations, all applied/);
    expect(r.stdout).to.match(/token issued in \d+ ms; GET \/qbench\/api\/v1\/customer\?page_size=1 answered 200/);
    expect(r.stdout).to.match(/7 ok, 0 warnings, 0 failures/);
    // Non-default values listed, secrets masked: the client secret, the database password, the webhook's path.
    expect(r.stdout).to.match(/QBENCH_CLIENT_SECRET=\*\*\*/);
    expect(r.stdout).to.match(/QBSYNC_ALERT_WEBHOOK=https:\/\/hooks\.example\.com\/\*\*\*/);
    expect(r.stdout + r.stderr).to.not.include(TEST_CLIENT_SECRET);
    expect(r.stdout + r.stderr).to.not.include('XYZsecretpath');
    const pw = new URL(db.url).password;
    if (pw) expect(r.stdout + r.stderr).to.not.include(pw);

    const j = await runCli(['doctor', '--json'], env);
    expect(j.code).to.equal(0);
    const report = JSON.parse(j.stdout) as DoctorReport;
    expect(report.ok).to.equal(true);
    expect(report.counts).to.deep.equal({ ok: 7, warn: 0, fail: 0 });
  });

  it('bad credentials: a fail line naming the variables to check, exit 1, no secret printed', async () => {
    const r = await runCli(['doctor'], { ...env, QBENCH_CLIENT_SECRET: 'not-the-right-secret-42' });
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(/^fail\s+qbench\s+.*QBench refused the credentials \(HTTP 401/m);
    expect(r.stdout).to.match(/→ check QBENCH_CLIENT_ID and QBENCH_CLIENT_SECRET/);
    expect(r.stdout).to.match(/^ok\s+database/m);
    expect(r.stdout).to.match(/1 failure/);
    expect(r.stdout + r.stderr).to.not.include('not-the-right-secret-42');
  });

  it('an unreachable database and an invalid configuration fail with what to do', async () => {
    const r = await runCli(['doctor'], { ...env, DATABASE_URL: 'postgres://qbsync:hunter2hunter2@127.0.0.1:1/qbsync' });
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(/^fail\s+database\s+cannot connect \(postgres:\/\/qbsync:\*\*\*@127\.0\.0\.1:1\/qbsync\)/m);
    expect(r.stdout).to.match(/→ check DATABASE_URL/);
    expect(r.stdout + r.stderr).to.not.include('hunter2hunter2');

    const c = await runCli(['doctor', '--json'], { ...env, QBENCH_PAGE_SIZE: '500' });
    expect(c.code).to.equal(1);
    const report = JSON.parse(c.stdout) as DoctorReport;
    expect(report.checks[0]).to.include({ name: 'configuration', verdict: 'fail' });
    expect(report.checks[0].summary).to.match(/QBENCH_PAGE_SIZE must be <= 50/);
  });

  it('clock skew beyond 30 s warns; a budget above QBench\'s 300 / 60 s fails; 429s in run history warn', async () => {
    const skewed = await testSimulator({ now: new Date(Date.now() - 5 * 60_000) });
    const base = { QBENCH_BASE_URL: skewed.url, QBENCH_CLIENT_ID: 'qbsync-test-client', QBENCH_CLIENT_SECRET: TEST_CLIENT_SECRET };
    const deps = (extra: Record<string, string> = {}) => {
      const e = { ...base, ...extra };
      return {
        config: loadConfig(e), env: e,
        openDb: () => connect(db.url, undefined, { migrate: false, poolMax: 2 }),
        qbench: async () => ({ baseUrl: skewed.url, simulated: false }),
      };
    };
    try {
      const a = await runDoctor(deps());
      expect(verdicts(a)).to.include({ qbench: 'ok', clock: 'warn', 'rate budget': 'ok' });
      const clock = a.checks.find((c) => c.name === 'clock')!;
      expect(clock.summary).to.match(/QBench's clock is 30\d(\.\d)? s behind ours/);
      expect(clock.action).to.match(/NTP/);
      expect(a.ok, 'a warning is not a failure').to.equal(true);

      const b = await runDoctor(deps({ QBENCH_RATE_LIMIT: '200', QBENCH_RATE_WINDOW_SECONDS: '30' }));
      expect(b.checks.find((c) => c.name === 'rate budget')).to.include({ verdict: 'fail' });
      expect(b.checks.find((c) => c.name === 'rate budget')!.action).to.match(/QBENCH_RATE_LIMIT=295/);
      expect(b.ok).to.equal(false);

      await db.pool.query(
        `INSERT INTO qbsync.sync_runs (run_id, mode, entities, status, rate_limited, requests, created_at) VALUES (gen_random_uuid(), 'incremental', '{tests}', 'succeeded', 57, 400, now())`,
      );
      const c = await runDoctor(deps());
      const rb = c.checks.find((x) => x.name === 'rate budget')!;
      expect(rb.verdict).to.equal('warn');
      expect(rb.summary).to.match(/57 rate-limited \(429\) answers in 1 run\(s\) in the last 24 h/);
    } finally {
      await skewed.close();
      await db.pool.query(`DELETE FROM qbsync.sync_runs`);
    }
  });

  it('helpers: worst case per 60 s of a sliding budget; non-default values masked', () => {
    expect(worstPer60s(295, 60)).to.equal(295);
    expect(worstPer60s(150, 30)).to.equal(300);
    expect(worstPer60s(100, 40)).to.equal(200);
    expect(worstPer60s(500, 120)).to.equal(500);
    const v = nonDefaultValues({ QBENCH_PAGE_SIZE: '50', QBENCH_RATE_LIMIT: '200', DATABASE_URL: 'postgres://u:pw@h/db', QBENCH_CLIENT_SECRET: 'abcdefgh1' });
    expect(v.map((x) => `${x.name}=${x.value}`)).to.deep.equal(['DATABASE_URL=postgres://u:***@h/db', 'QBENCH_CLIENT_SECRET=***', 'QBENCH_RATE_LIMIT=200']);
  });
});
