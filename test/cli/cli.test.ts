import { expect } from 'chai';
import { runCli } from '../helpers/cli.js';

const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH, HOME: process.env.HOME, ...extra });

describe('qbsync CLI', function () {
  this.timeout(30_000);

  it('--help lists the commands and exits 0', async () => {
    const r = await runCli(['--help'], env());
    expect(r.code).to.equal(0);
    for (const c of ['sync', 'status', 'migrate', 'sim', 'list-entities', 'config']) expect(r.stdout).to.match(new RegExp(`\\n\\s+${c}\\b`));
  });

  it('every command listed by --help has its own --help', async () => {
    const top = await runCli(['--help'], env());
    const commands = [...top.stdout.split('Commands:')[1].matchAll(/^\s{2}([a-z][a-z-]*)/gm)].map((m) => m[1]).filter((c) => c !== 'help');
    expect(commands.length).to.be.at.least(6);
    // Three at a time: one CLI start costs about a second of CPU, and there are over twenty commands.
    for (let i = 0; i < commands.length; i += 3) {
      await Promise.all(commands.slice(i, i + 3).map(async (c) => {
        const r = await runCli([c, '--help'], env());
        expect(r.code, c).to.equal(0);
        expect(r.stdout, c).to.match(/Usage: qbsync/);
      }));
    }
  }).timeout(90_000);

  it('an unknown command or option is a usage error (exit 2)', async () => {
    expect((await runCli(['frobnicate'], env())).code).to.equal(2);
    const r = await runCli(['sync', '--entity', 'widgets'], env());
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/Unknown QBench entity "widgets"/);
    expect((await runCli(['sim', '--port', 'abc'], env())).code).to.equal(2);
  });

  it('a bad DATABASE_URL or port is one clear line and exit 2, no stack trace', async () => {
    const r = await runCli(['status'], env({ DATABASE_URL: 'not a url', QBSYNC_API_PORT: 'eighty' }));
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/DATABASE_URL is not a valid URL/);
    expect(r.stderr).to.match(/QBSYNC_API_PORT must be a whole number \(got "eighty"\)/);
    expect(r.stderr).to.not.match(/\n\s+at /);
  });

  it('an unreachable database fails with exit 1 and names where it tried', async () => {
    const r = await runCli(['status'], env({ DATABASE_URL: 'postgres://u:secretpw123@127.0.0.1:1/db' }));
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/Cannot connect to PostgreSQL at 127\.0\.0\.1:1\/db/);
    expect(r.stderr).to.not.include('secretpw123');
  });

  it('list-entities prints the catalog in dependency order', async () => {
    const r = await runCli(['list-entities', '--json'], env());
    expect(r.code).to.equal(0);
    expect(JSON.parse(r.stdout).map((e: { name: string }) => e.name)).to.deep.equal(['customers', 'orders', 'samples', 'batches', 'tests', 'assays', 'reports']);
  });
});

describe('qbsync sync/status through the CLI', function () {
  this.timeout(120_000);
  it('--dry-run prints the plan and writes nothing; sync then status --json report the run', async () => {
    const { createTestDatabase } = await import('../helpers/pg.js');
    const { testSimulator, cliEnv } = await import('../helpers/sim.js');
    const db = await createTestDatabase();
    const sim = await testSimulator();
    try {
      const e = cliEnv(db.url, sim);
      const plan = await runCli(['sync', '--dry-run'], e);
      expect(plan.code, plan.stderr).to.equal(0);
      expect(plan.stdout).to.match(/nothing will be written/);
      expect(plan.stdout).to.match(/tests\s+full pass from page 1: \d+ pages of 50/);
      expect(plan.stdout).to.match(/Estimated \d+ requests/);
      const { rows } = await db.pool.query(`SELECT (SELECT count(*) FROM raw.fetches)::int AS f, (SELECT count(*) FROM qbsync.sync_runs)::int AS r, (SELECT count(*) FROM qbsync.checkpoints)::int AS c`);
      expect(rows[0]).to.deep.equal({ f: 0, r: 0, c: 0 });

      const run = await runCli(['sync', '--entity', 'customers,orders'], e);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout).to.match(/customers\s+full\s+succeeded/);
      const lines = run.stderr.trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.every((l) => typeof l.run_id === 'string' && l.level && l.message)).to.equal(true);

      const st = await runCli(['status', '--json'], e);
      expect(st.code, st.stderr).to.equal(0);
      const status = JSON.parse(st.stdout);
      expect(status.runs[0].status).to.equal('succeeded');
      expect(status.runs[0].entities).to.deep.equal(['customers', 'orders']);
      expect(status.checkpoints.map((c: { entity: string }) => c.entity).sort()).to.deep.equal(['customers', 'orders']);
      expect(status.watermarks).to.have.length(2);
    } finally {
      await sim.close();
      await db.drop();
    }
  });
});
