import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator, cliEnv, TEST_CLIENT_SECRET } from '../helpers/sim.js';
import { rawIds, duplicatePages, V1 } from '../helpers/raw.js';
import { startCli, runCli } from '../helpers/cli.js';
import type { Simulator } from '../../sim/index.js';

const CORE = ['customers', 'orders', 'samples', 'batches', 'tests'];

async function count(db: TestDatabase): Promise<number> {
  const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM raw.fetches`);
  return rows[0].n;
}

async function waitFor(pred: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 15));
  }
}

describe('interrupted syncs resume (real CLI, kill -9)', function () {
  this.timeout(180_000);
  let db: TestDatabase;
  let sim: Simulator;
  before(async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'small', latencyMs: 3 } as never);
    sim.setFaults({ latencyMs: 3 });
  });
  after(async () => {
    await sim?.close();
    await db?.drop();
  });

  it('killed at several points, the next sync lands every record with no page landed twice', async () => {
    const env = cliEnv(db.url, sim);
    const kills: number[] = [];
    for (const [i, at] of [5, 60, 160, 300].entries()) {
      // The first run starts the full sync; the others resume it (plain `sync` resumes unfinished passes).
      const { child, done } = startCli(['sync', ...(i === 0 ? ['--full'] : []), '--entity', CORE.join(',')], env);
      await waitFor(async () => (await count(db)) >= at || child.exitCode !== null, 60_000);
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        kills.push(await count(db));
      }
      const r = await done;
      expect(r.signal ?? 'exited', r.stderr).to.be.oneOf(['SIGKILL', 'exited']);
    }
    expect(kills.length, 'at least three kills landed mid-run').to.be.at.least(3);
    const final = await runCli(['sync', '--entity', CORE.join(',')], env);
    expect(final.code, final.stderr).to.equal(0);
    for (const e of CORE) expect(await rawIds(db.pool, e), e).to.deep.equal(sim.truth.ids(V1[e]));
    expect(await duplicatePages(db.pool)).to.deep.equal([]);
    // Runs killed mid-way are closed as failed by the run that resumed them.
    const { rows } = await db.pool.query(`SELECT status, count(*)::int AS n FROM qbsync.sync_runs GROUP BY status`);
    const by = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    expect(by.running ?? 0).to.equal(0);
    expect(by.failed).to.be.at.least(kills.length);
    expect(final.stderr + final.stdout).to.not.include(TEST_CLIENT_SECRET);
  });
});
