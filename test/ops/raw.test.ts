import { expect } from 'chai';
import { replay, runTransforms, tableChecksums } from '../../transform/index.js';
import { pruneRaw, rawStats } from '../../ops/index.js';
import type { Simulator } from '../../sim/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator, cliEnv } from '../helpers/sim.js';
import { runCli } from '../helpers/cli.js';
import { capture, syncAndTransform } from './helpers.js';

const count = async (db: TestDatabase, sql: string) => Number((await db.pool.query(sql)).rows[0].n);

describe('ops: raw stats and raw prune', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let sim: Simulator;
  let cutoff: Date;
  let baseline: Awaited<ReturnType<typeof tableChecksums>>;

  before(async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'tiny' });
    // Small pages, so whole pages can be superseded. Three full passes (re-fetched unchanged pages) and changes
    // in between (new versions, deletions through the Updates feed).
    await syncAndTransform(db, sim, { pageSize: 10 });
    sim.advance(30);
    await syncAndTransform(db, sim, { mode: 'incremental', pageSize: 10 });
    await syncAndTransform(db, sim, { pageSize: 10 });
    sim.advance(30);
    await syncAndTransform(db, sim, { mode: 'incremental', pageSize: 10 });
    await new Promise((r) => setTimeout(r, 20));
    cutoff = new Date();
    await new Promise((r) => setTimeout(r, 20));
    await syncAndTransform(db, sim, { pageSize: 10 });
    sim.advance(30);
    await syncAndTransform(db, sim, { mode: 'incremental', pageSize: 10 });
    baseline = await tableChecksums(db);
    expect(await count(db, `SELECT count(*) AS n FROM qbench.tests WHERE deleted`), 'the scenario has soft deletes').to.be.greaterThan(0);
  });
  after(async () => {
    await sim?.close();
    await db?.drop();
  });

  it('raw stats match direct counts (API and `qbsync raw stats --json`)', async () => {
    const s = await rawStats(db);
    expect(s.totals.events).to.equal(await count(db, `SELECT count(*) AS n FROM raw.fetches`));
    expect(s.totals.bodies).to.equal(await count(db, `SELECT count(*) AS n FROM raw.page_bodies`));
    expect(s.totals.bytes).to.equal(await count(db, `SELECT sum(bytes) AS n FROM raw.page_bodies`));
    expect(s.rows.reduce((a, r) => a + r.events, 0)).to.equal(s.totals.events);
    const { rows: direct } = await db.pool.query(
      `SELECT f.entity, f.kind, count(*)::int AS events, count(DISTINCT f.body_sha256)::int AS bodies, min(fetched_at) AS oldest, max(fetched_at) AS newest,
              (SELECT sum(b.bytes)::int FROM raw.page_bodies b WHERE b.sha256 IN (SELECT body_sha256 FROM raw.fetches g WHERE g.entity = f.entity AND g.kind = f.kind)) AS bytes
       FROM raw.fetches f GROUP BY 1, 2 ORDER BY 1, 2`,
    );
    expect(s.rows.map((r) => ({ ...r }))).to.deep.equal(direct.map((d) => ({ entity: d.entity, kind: d.kind, events: d.events, bodies: d.bodies, oldest: d.oldest, newest: d.newest, bytes: d.bytes })));
    expect(s.rows.map((r) => `${r.entity}/${r.kind}`)).to.include.members(['tests/list', 'tests/updates', 'samples/list']);

    const cli = await runCli(['raw', 'stats', '--json'], cliEnv(db.url, sim));
    expect(cli.code, cli.stderr).to.equal(0);
    const j = JSON.parse(cli.stdout);
    expect(j.totals.events).to.equal(s.totals.events);
    expect(j.rows.map((r: { entity: string; kind: string; events: number; bodies: number; bytes: number }) => [r.entity, r.kind, r.events, r.bodies, r.bytes]))
      .to.deep.equal(s.rows.map((r) => [r.entity, r.kind, r.events, r.bodies, r.bytes]));
  });

  it('needs --keep-latest (exit 2); a dry run reports and changes nothing', async () => {
    const env = cliEnv(db.url, sim);
    const no = await runCli(['raw', 'prune', '--before', '2099-01-01'], env);
    expect(no.code).to.equal(2);
    expect(no.stderr).to.match(/--keep-latest/);
    const future = await runCli(['raw', 'prune', '--before', '2099-01-01', '--keep-latest'], env);
    expect(future.code).to.equal(2);
    expect(future.stderr).to.match(/future/);

    const events = await count(db, `SELECT count(*) AS n FROM raw.fetches`);
    const dry = await runCli(['raw', 'prune', '--before', cutoff.toISOString(), '--keep-latest', '--dry-run', '--json'], env);
    expect(dry.code, dry.stderr).to.equal(0);
    const r = JSON.parse(dry.stdout);
    expect(r.dryRun).to.equal(true);
    expect(r.deleted.fetches).to.be.greaterThan(0);
    expect(await count(db, `SELECT count(*) AS n FROM raw.fetches`)).to.equal(events);
    expect(await count(db, `SELECT count(*) AS n FROM qbsync.raw_prunes`)).to.equal(0);
    expect(dry.stderr).to.match(/raw prune \(dry run, rolled back\)/);
  });

  it('prune keeps what the typed tables are built from: replay after it gives identical tables', async () => {
    const after = await count(db, `SELECT count(*) AS n FROM raw.fetches WHERE fetched_at >= '${cutoff.toISOString()}'`);
    const total = await count(db, `SELECT count(*) AS n FROM raw.fetches`);
    const bodies = await count(db, `SELECT count(*) AS n FROM raw.page_bodies`);
    const { logger, text } = capture();
    const r = await pruneRaw(db, { before: cutoff, logger });
    expect(r.dryRun).to.equal(false);
    expect(r.candidates).to.equal(total - after);
    expect(r.deleted.fetches).to.be.greaterThan(0);
    expect(r.deleted.fetches + r.kept.total).to.equal(r.candidates);
    expect(r.kept.newest_version).to.be.greaterThan(0);
    expect(r.kept.typed_rows).to.be.greaterThan(0);
    expect(r.deleted.bodies).to.be.greaterThan(0);
    expect(await count(db, `SELECT count(*) AS n FROM raw.fetches`)).to.equal(total - r.deleted.fetches);
    expect(await count(db, `SELECT count(*) AS n FROM raw.page_bodies`)).to.equal(bodies - r.deleted.bodies);
    // Nothing fetched at or after the date was touched.
    expect(await count(db, `SELECT count(*) AS n FROM raw.fetches WHERE fetched_at >= '${cutoff.toISOString()}'`)).to.equal(after);
    // Every typed row's source event is still there; no body is left without an event.
    for (const t of ['customers', 'orders', 'samples', 'batches', 'tests', 'assays', 'reports']) {
      expect(await count(db, `SELECT count(*) AS n FROM qbench.${t} x WHERE NOT EXISTS (SELECT 1 FROM raw.fetches f WHERE f.id = x.source_fetch_id)`), t).to.equal(0);
    }
    expect(await count(db, `SELECT count(*) AS n FROM raw.page_bodies b WHERE NOT EXISTS (SELECT 1 FROM raw.fetches f WHERE f.body_sha256 = b.sha256)`)).to.equal(0);
    // The derived per-record event index (where the database has it) names no deleted event.
    if ((await db.pool.query(`SELECT to_regclass('qbsync.raw_record_events') IS NOT NULL AS ok`)).rows[0].ok) {
      expect(await count(db, `SELECT count(*) AS n FROM qbsync.raw_record_events e WHERE NOT EXISTS (SELECT 1 FROM raw.fetches f WHERE f.id = e.fetch_id)`)).to.equal(0);
    }
    // Logged (counts, not data) and recorded.
    expect(text()).to.match(/raw prune: \d+ of \d+ events fetched before/);
    expect(text()).to.not.match(/"body"|customer_name/);
    const { rows: [p] } = await db.pool.query(`SELECT * FROM qbsync.raw_prunes`);
    expect(Number(p.fetches_deleted)).to.equal(r.deleted.fetches);

    // Incremental transforms have nothing to do; a replay rebuilds the same tables from what is left.
    await runTransforms(db);
    expect(await tableChecksums(db)).to.deep.equal(baseline);
    await replay(db);
    expect(await tableChecksums(db)).to.deep.equal(baseline);

    // Everything up to now: still identical after a replay.
    const r2 = await pruneRaw(db, { before: new Date() });
    expect(r2.deleted.fetches).to.be.greaterThan(0);
    await replay(db);
    expect(await tableChecksums(db)).to.deep.equal(baseline);
    // A prune right after finds nothing more.
    const r3 = await pruneRaw(db, { before: new Date() });
    expect(r3.deleted.fetches).to.equal(0);
  });

  it('raw stays append-only outside a prune', async () => {
    let err: Error | undefined;
    try {
      await db.pool.query(`DELETE FROM raw.fetches WHERE id = (SELECT min(id) FROM raw.fetches)`);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/append-only/);
  });
});
