import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { createLogger, loadConfig, registerSecret } from '../../core/index.js';
import { makeClient, runSync, SyncBusyError, acquireSyncLock, MemoryRateBudget, type EntityName } from '../../ingest/index.js';
import type { Simulator } from '../../sim/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator, TEST_CLIENT_ID, TEST_CLIENT_SECRET } from '../helpers/sim.js';
import { rawIds, duplicatePages, V1 } from '../helpers/raw.js';

const CORE: EntityName[] = ['customers', 'orders', 'samples', 'batches', 'tests'];

function capture() {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (c) => lines.push(String(c)));
  return { logger: createLogger({ level: 'debug', console: false, stream }), lines };
}

function config() {
  return loadConfig({ QBENCH_CLIENT_ID: TEST_CLIENT_ID, QBENCH_CLIENT_SECRET: TEST_CLIENT_SECRET, QBENCH_BASE_URL: 'http://127.0.0.1:1' });
}

/** Fast retries so fault tests finish in seconds. */
const FAST = { backoffBaseMs: 5, backoffCapMs: 50, requestTimeoutMs: 1500, rateLimitMaxWaitMs: 3000 };

async function sync(db: TestDatabase, sim: Simulator, logger = capture().logger, opts: { mode?: 'full' | 'incremental'; entities?: EntityName[] } = {}) {
  return runSync(
    {
      db,
      logger,
      // The simulator's rate limit is off here; the budget is tested on its own.
      makeClient: (onEvent) => makeClient(config(), { baseUrl: sim.url, logger, onEvent, rateBudget: new MemoryRateBudget({ limit: 1e6, windowMs: 1000 }), overrides: FAST }),
    },
    { mode: opts.mode ?? 'full', entities: opts.entities ?? CORE },
  );
}

async function expectAllLanded(db: TestDatabase, sim: Simulator, entities: EntityName[] = CORE) {
  for (const e of entities) {
    const truth = sim.truth.ids(V1[e]);
    expect(truth.length, `${e} in the simulator`).to.be.greaterThan(0);
    expect(await rawIds(db.pool, e), `${e} ids in raw`).to.deep.equal(truth);
  }
}

describe('full sync into raw', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let sim: Simulator;
  afterEach(async () => {
    await sim?.close();
    await db?.drop();
  });

  it('lands every record of every entity exactly once per page, with run history and checkpoints', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'small' });
    const { logger, lines } = capture();
    const out = await sync(db, sim, logger);
    expect(out.status).to.equal('succeeded');
    await expectAllLanded(db, sim);
    expect(await duplicatePages(db.pool)).to.deep.equal([]);

    const { rows: cps } = await db.pool.query(`SELECT entity, status, total_pages, next_page FROM qbsync.checkpoints ORDER BY entity`);
    expect(cps.map((c) => c.entity)).to.have.members(CORE);
    for (const c of cps) {
      expect(c.status).to.equal('completed');
      expect(c.next_page).to.equal(c.total_pages + 1);
    }
    const { rows: [run] } = await db.pool.query(`SELECT * FROM qbsync.sync_runs WHERE run_id = $1`, [out.runId]);
    expect(run.status).to.equal('succeeded');
    const { rows: [agg] } = await db.pool.query(`SELECT count(*)::int AS pages FROM raw.fetches WHERE kind = 'list' AND run_id = $1`, [out.runId]);
    expect(run.pages).to.equal(agg.pages);
    expect(run.requests).to.be.at.least(agg.pages);
    const { rows: [det] } = await db.pool.query(`SELECT count(*)::int AS n FROM raw.fetches WHERE kind = 'detail'`);
    expect(run.detail_fetches).to.equal(det.n);
    expect(det.n, 'incomplete test items get their detail landed').to.be.greaterThan(0);
    // Watermarks come from the pass, for the incremental that follows.
    const { rows: wms } = await db.pool.query(`SELECT entity FROM qbsync.watermarks`);
    expect(wms).to.have.length(CORE.length);
    expect(lines.join('')).to.not.include(TEST_CLIENT_SECRET);
  });

  it('stores an unchanged page once: a second pass adds events, not bodies', async () => {
    db = await createTestDatabase();
    sim = await testSimulator();
    await sync(db, sim);
    const before = await db.pool.query(`SELECT (SELECT count(*) FROM raw.page_bodies)::int AS bodies, (SELECT count(*) FROM raw.fetches)::int AS events`);
    const second = await sync(db, sim);
    expect(second.status).to.equal('succeeded');
    const after = await db.pool.query(`SELECT (SELECT count(*) FROM raw.page_bodies)::int AS bodies, (SELECT count(*) FROM raw.fetches)::int AS events`);
    expect(after.rows[0].events).to.be.greaterThan(before.rows[0].events);
    expect(after.rows[0].bodies).to.equal(before.rows[0].bodies);
    // The random envelope key is kept on the event, not in the body.
    const { rows } = await db.pool.query(`SELECT extra_keys FROM raw.fetches WHERE kind = 'list' LIMIT 5`);
    for (const r of rows) expect(Object.keys(r.extra_keys)[0]).to.match(/^qb/);
  });

  it('lands everything despite 5xx, dropped connections, malformed bodies, a 429 storm and token expiry', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'small', faults: { errorRate: 0.2, dropRate: 0.05, malformedRate: 0.05, badTestPageRate: 0.1 } });
    const { logger, lines } = capture();
    let storm = false;
    const timer = setInterval(() => {
      const s = sim.stats();
      if (!storm && s.requests > 80) {
        storm = true;
        sim.setFaults({ errorRate: 0.2, dropRate: 0.05, malformedRate: 0.05, badTestPageRate: 0.1, rateLimitStorm: true });
        setTimeout(() => {
          sim.expireTokens();
          sim.setFaults({ errorRate: 0.2, dropRate: 0.05, malformedRate: 0.05, badTestPageRate: 0.1 });
        }, 1500);
      }
    }, 20);
    try {
      const out = await sync(db, sim, logger);
      expect(out.status, JSON.stringify(out.entities)).to.be.oneOf(['succeeded', 'partial']);
      expect(out.retries).to.be.greaterThan(10);
      expect(out.rateLimited).to.be.greaterThan(0);
    } finally {
      clearInterval(timer);
    }
    const { rows: skipped } = await db.pool.query(`SELECT skipped_pages FROM qbsync.sync_run_entities WHERE entity = 'tests'`);
    if (skipped[0].skipped_pages.length === 0) await expectAllLanded(db, sim);
    else {
      // Pages QBench refuses for good are recorded with a reason; everything else landed.
      for (const s of skipped[0].skipped_pages) expect(s.reason).to.match(/400/);
      await expectAllLanded(db, sim, ['customers', 'orders', 'samples', 'batches']);
    }
    const all = lines.join('');
    expect(all).to.not.include(TEST_CLIENT_SECRET);
    expect(all).to.not.match(/Bearer [A-Za-z0-9]/);
  });

  it('incremental: a no-op costs at most 2 requests per entity; changes to old records and deletions are landed', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'small' });
    const all: EntityName[] = ['customers', 'orders', 'samples', 'batches', 'tests', 'assays', 'reports'];
    await sync(db, sim, undefined, { entities: all });
    sim.resetStats();
    const noop = await sync(db, sim, undefined, { mode: 'incremental', entities: all });
    expect(noop.status).to.equal('succeeded');
    expect(noop.entities.every((e) => e.mode === 'incremental')).to.equal(true);
    expect(noop.requests, `requests for ${all.length} entities`).to.be.at.most(2 * all.length);

    const maxFetch = (await db.pool.query(`SELECT max(id)::int AS m FROM raw.fetches`)).rows[0].m;
    const deletedBefore = new Set(sim.truth.deletedIds('test'));
    const changed = sim.advance(48);
    expect(changed.updated).to.be.greaterThan(0);
    const inc = await sync(db, sim, undefined, { mode: 'incremental', entities: all });
    expect(inc.status).to.equal('succeeded');
    // Every test the simulator now has, in the version it serves, is in raw with that last_updated.
    const { rows } = await db.pool.query(
      `SELECT (item->>'id')::int AS id, max((item->>'last_updated')::bigint) AS lu
       FROM raw.fetches f JOIN raw.page_bodies b ON b.sha256 = f.body_sha256,
            jsonb_array_elements(CASE f.kind WHEN 'updates' THEN b.body->'updated' WHEN 'list' THEN b.body->'data' ELSE jsonb_build_array(b.body) END) item
       WHERE f.entity = 'tests' AND jsonb_typeof(item) = 'object' GROUP BY 1`,
    );
    const landed = new Map(rows.map((r) => [r.id, Number(r.lu)]));
    let newer = 0;
    for (const id of sim.truth.ids('test')) {
      const t = sim.truth.get('test', id) as { last_updated: string };
      expect(landed.get(id), `test ${id}`).to.equal(Number(t.last_updated));
      if (Number(t.last_updated) > Date.parse('2026-11-20T12:00:00Z') / 1000) newer++;
    }
    expect(newer, 'tests changed by the advance').to.be.greaterThan(0);
    // Deletions arrive through the Updates feed.
    const { rows: del } = await db.pool.query(
      `SELECT DISTINCT jsonb_array_elements_text(b.body->'deleted')::int AS id FROM raw.fetches f JOIN raw.page_bodies b ON b.sha256 = f.body_sha256
       WHERE f.kind = 'updates' AND f.entity = 'tests' AND f.id > $1`,
      [maxFetch],
    );
    const deletedNow = sim.truth.deletedIds('test').filter((id) => !deletedBefore.has(id));
    expect(deletedNow.length).to.be.greaterThan(0);
    expect(del.map((r) => r.id)).to.include.members(deletedNow);
    // Batches have no feed: the changed ones come from the newest-change-first window.
    for (const id of sim.truth.ids('batch')) {
      const b = sim.truth.get('batch', id) as { last_updated: string };
      if (Number(b.last_updated) > Date.parse('2026-11-20T12:00:00Z') / 1000) expect(await rawIds(db.pool, 'batches')).to.include(id);
    }
  });

  it('refuses a second sync while one holds the lock, naming the running one', async () => {
    db = await createTestDatabase();
    sim = await testSimulator();
    const lock = await acquireSyncLock(db.pool);
    try {
      let err: unknown;
      try {
        await sync(db, sim);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(SyncBusyError);
      expect((err as Error).message).to.match(/another sync is already running/);
    } finally {
      await lock.release();
    }
    expect((await sync(db, sim)).status).to.equal('succeeded');
  });

  it('never stores the client secret or a token in raw params or bodies', async () => {
    db = await createTestDatabase();
    sim = await testSimulator();
    registerSecret(TEST_CLIENT_SECRET);
    await sync(db, sim);
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM raw.fetches WHERE params::text ~* '(secret|token|assertion|authorization)' OR params::text LIKE $1`,
      [`%${TEST_CLIENT_SECRET}%`],
    );
    expect(rows[0].n).to.equal(0);
    const { rows: b } = await db.pool.query(`SELECT count(*)::int AS n FROM raw.page_bodies WHERE body::text LIKE $1`, [`%${TEST_CLIENT_SECRET}%`]);
    expect(b[0].n).to.equal(0);
  });
});
