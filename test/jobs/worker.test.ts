import { expect } from 'chai';
import { connect, type Config, type Database } from '../../core/index.js';
import { QUEUES, startBoss, txExecutor, type PgBoss } from '../../core/boss.js';
import {
  acquireSyncLock, insertEvents, inTransaction, runSync, makeClient, MemoryRateBudget, type EntityName, type RawEvent,
} from '../../ingest/index.js';
import { startWorker, enqueueSync, enqueueBackfill, getSyncSchedule, type Worker } from '../../jobs/index.js';
import type { SimEntity, Simulator } from '../../sim/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator, cliEnv } from '../helpers/sim.js';
import { runCli, startCli } from '../helpers/cli.js';
import { V1 } from '../helpers/raw.js';
import { capture, testConfig, FAST, maxInWindow, waitFor, truthIdsInRange, rawIdsInRange } from '../helpers/jobs.js';

const UNLIMITED = { QBENCH_RATE_LIMIT: '1000000', QBENCH_RATE_WINDOW_SECONDS: '1' };

async function runStatus(db: Database, runId: string): Promise<string> {
  const { rows } = await db.pool.query(`SELECT status FROM qbsync.sync_runs WHERE run_id = $1`, [runId]);
  return rows[0]?.status;
}

async function jobCount(db: Database, queue: string, states = ['created', 'retry', 'active', 'completed']): Promise<number> {
  const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state = ANY($2)`, [queue, states]);
  return rows[0].n;
}

describe('jobs: workers, queues and schedules', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let sim: Simulator;
  let boss: PgBoss | undefined;
  const workers: Worker[] = [];
  const extra: Database[] = [];

  function worker(config: Config, d: Database = db, opts: { concurrency?: number } = {}) {
    const { logger } = capture();
    return startWorker({ db: d, config, logger, baseUrl: sim.url, clientOverrides: FAST, concurrency: opts.concurrency ?? 2, reapIntervalMs: 2000 }).then((w) => {
      workers.push(w);
      return w;
    });
  }

  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop();
    await boss?.stop({ graceful: false, wait: true }).catch(() => undefined);
    boss = undefined;
    for (const d of extra.splice(0)) await d.close();
    await sim?.close();
    await db?.drop();
  });

  it('enqueueSync queues the run and its job in one transaction; a worker runs it to succeeded and its transform jobs fill the typed tables', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'tiny' });
    boss = await startBoss(db.url);
    const first = await enqueueSync(db, boss, { mode: 'full', requestedBy: 'api' });
    expect(first.existing).to.equal(false);
    expect(await runStatus(db, first.runId)).to.equal('queued');
    const same = await enqueueSync(db, boss, { mode: 'incremental', entities: ['tests'], requestedBy: 'api' });
    expect(same, 'a queued full run of every entity covers the request').to.deep.equal({ runId: first.runId, existing: true, status: 'queued' });
    expect(await jobCount(db, QUEUES.sync)).to.equal(1);

    await worker(testConfig(UNLIMITED));
    await waitFor(async () => (await runStatus(db, first.runId)) === 'succeeded', 60_000, 'the queued run to succeed');
    const { rows: [run] } = await db.pool.query(`SELECT requested_by, pages FROM qbsync.sync_runs WHERE run_id = $1`, [first.runId]);
    expect(run.requested_by).to.equal('api');
    expect(run.pages).to.be.greaterThan(0);
    // Landing queued one transform per entity (coalesced by the stately queue), and they ran.
    await waitFor(async () => {
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM qbench.tests`);
      return rows[0].n === sim.truth.count('test');
    }, 60_000, 'typed tests to match the simulator');
    const { rows: jobs } = await db.pool.query(`SELECT DISTINCT data->>'target' AS t FROM pgboss.job WHERE name = $1`, [QUEUES.transform]);
    expect(jobs.map((j) => j.t)).to.include.members(['customers', 'orders', 'samples', 'batches', 'tests']);
    // Nothing queued any more: the next request queues a new run.
    const next = await enqueueSync(db, boss, { mode: 'incremental' });
    expect(next.existing).to.equal(false);
    await waitFor(async () => (await runStatus(db, next.runId)) === 'succeeded', 60_000, 'the incremental run');
  });

  it('the transform job is queued in the landing transaction: rolled back, neither page nor job exists', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'tiny' });
    boss = await startBoss(db.url);
    const event: RawEvent = {
      runId: '00000000-0000-4000-8000-0000000000aa', entity: 'tests', kind: 'list', endpoint: '/qbench/api/v1/test', params: {}, httpStatus: 200,
      recordCount: 1, body: { total_count: 1, total_pages: 1, data: [{ id: 1 }] }, fetchedAt: new Date(), durationMs: 1, pageKey: 'tx-test/p1',
    };
    const land = (fail: boolean) =>
      inTransaction(db.pool, async (c) => {
        await insertEvents(c, [event]);
        await boss!.send(QUEUES.transform, { target: 'tests' }, { singletonKey: 'tests', db: txExecutor(c) });
        if (fail) throw new Error('landing failed after the send');
      });
    let err: unknown;
    try {
      await land(true);
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).to.equal('landing failed after the send');
    expect(await jobCount(db, QUEUES.transform)).to.equal(0);
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM raw.fetches`)).rows[0].n).to.equal(0);
    await land(false);
    expect(await jobCount(db, QUEUES.transform)).to.equal(1);
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM raw.fetches`)).rows[0].n).to.equal(1);

    // Through a sync's onLanded hook: a page whose transaction fails queues nothing.
    const { logger } = capture();
    let calls = 0;
    const out = await runSync(
      {
        db, logger, recoverParents: false,
        makeClient: (onEvent) => makeClient(testConfig(), { baseUrl: sim.url, logger, onEvent, rateBudget: new MemoryRateBudget({ limit: 1e6, windowMs: 1000 }), overrides: FAST }),
        onLanded: async (tx, entity) => {
          await boss!.send(QUEUES.transform, { target: entity }, { singletonKey: entity, db: txExecutor(tx) });
          if (++calls === 1) throw new Error('boom');
        },
      },
      { mode: 'full', entities: ['customers'] },
    );
    expect(out.status).to.equal('failed');
    expect(await jobCount(db, QUEUES.transform, ['created']), 'only the committed test page\'s job').to.equal(1);
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM raw.fetches WHERE entity = 'customers'`)).rows[0].n).to.equal(0);
  });

  it('two workers with one shared budget work a sync and a backfill: never over 40 requests in any 3 s, each chunk done once', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'tiny', rateLimit: { enabled: true, limit: 40, windowSeconds: 3 } });
    const config = testConfig({ QBENCH_RATE_LIMIT: '40', QBENCH_RATE_WINDOW_SECONDS: '3' });
    const second = await connect(db.url, undefined, { migrate: false, poolMax: 8 });
    extra.push(second);
    await worker(config, db);
    await worker(config, second);
    boss = await startBoss(db.url);
    const to = sim.now();
    const from = new Date(to.getTime() - 120 * 86_400_000);
    const sync = await enqueueSync(db, boss, { mode: 'full', entities: ['customers', 'orders', 'samples', 'batches', 'tests'] });
    const bf = await enqueueBackfill(db, boss, { from, to, chunkDays: 30 });
    expect(bf.queued).to.equal(bf.all.length);
    await waitFor(async () => (await runStatus(db, sync.runId)) === 'succeeded', 90_000, 'the sync');
    await waitFor(async () => (await runStatus(db, bf.runId)) === 'succeeded', 90_000, 'the backfill');

    const stats = sim.stats();
    const worst = maxInWindow(stats.requestTimes, 3000);
    expect(worst.max, `requests in the busiest 3 s (at ${new Date(worst.at).toISOString()})`).to.be.at.most(40);
    expect(stats.byStatus['429'] ?? 0, 'QBench never had to refuse').to.equal(0);
    expect(stats.requests, 'more requests than one window allows').to.be.greaterThan(60);
    expect(worst.max, 'the budget was saturated (it did the pacing)').to.be.at.least(30);
    const { rows: chunks } = await db.pool.query(`SELECT status, attempts FROM qbsync.backfill_chunks WHERE backfill_id = $1`, [bf.runId]);
    expect(chunks.length).to.equal(bf.all.length);
    for (const c of chunks) expect(c).to.deep.equal({ status: 'done', attempts: 1 });
    const { rows: dup } = await db.pool.query(`SELECT page_key FROM raw.fetches WHERE page_key IS NOT NULL GROUP BY page_key HAVING count(*) > 1`);
    expect(dup).to.deep.equal([]);
    for (const e of ['orders', 'tests'] as const) {
      expect(await rawIdsInRange(db.pool, e, from, to)).to.deep.equal(truthIdsInRange(sim, V1[e] as SimEntity, from, to));
    }
  });

  it('incremental syncs through the worker: a no-op costs at most 2 requests per entity; after advance(48) the changed and deleted ids land', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'small' });
    boss = await startBoss(db.url);
    await worker(testConfig(UNLIMITED));
    const full = await enqueueSync(db, boss, { mode: 'full' });
    await waitFor(async () => (await runStatus(db, full.runId)) === 'succeeded', 90_000, 'the full sync');

    sim.resetStats();
    const noop = await enqueueSync(db, boss, { mode: 'incremental' });
    await waitFor(async () => (await runStatus(db, noop.runId)) === 'succeeded', 60_000, 'the no-op incremental');
    const perEntity = new Map<string, number>();
    for (const [path, n] of Object.entries(sim.stats().byPath)) {
      const m = /\/api\/v1\/(?:updates\/)?([a-z]+)/.exec(path);
      if (m) perEntity.set(m[1], (perEntity.get(m[1]) ?? 0) + n);
    }
    expect(perEntity.size).to.equal(7);
    for (const [e, n] of perEntity) expect(n, `${e} requests in a no-op incremental`).to.be.at.most(2);

    const since = Math.floor(sim.now().getTime() / 1000);
    const changed = sim.advance(48);
    expect(changed.updated + changed.created).to.be.greaterThan(0);
    expect(changed.deleted).to.be.greaterThan(0);
    const inc = await enqueueSync(db, boss, { mode: 'incremental' });
    await waitFor(async () => (await runStatus(db, inc.runId)) === 'succeeded', 60_000, 'the incremental after advance');
    // Every record QBench reports as changed since `since` is in raw at its current version; deletions are marked.
    for (const e of ['customers', 'orders', 'samples', 'tests', 'batches'] as EntityName[]) {
      const v1 = V1[e] as SimEntity;
      const want = sim.truth.ids(v1).filter((id) => Number(sim.truth.get(v1, id)!.last_updated) > since);
      const { rows } = await db.pool.query<{ id: number; last_updated: number }>(
        `SELECT id, last_updated FROM qbsync.raw_records WHERE entity = $1 AND id = ANY($2::bigint[])`, [e, want],
      );
      const got = new Map(rows.map((r) => [Number(r.id), Number(r.last_updated)]));
      for (const id of want) expect(got.get(id), `${e} ${id} landed at its current version`).to.equal(Number(sim.truth.get(v1, id)!.last_updated));
      if (e === 'tests' || e === 'batches') expect(want.length, `${e} changed by advance(48)`).to.be.greaterThan(0);
    }
    const deleted = sim.truth.deletedIds('test');
    const { rows: del } = await db.pool.query(`SELECT id FROM qbsync.raw_records WHERE entity = 'tests' AND deleted`);
    const landedDeleted = del.map((r) => Number(r.id));
    expect(landedDeleted.length, 'deletions reported by the feed are marked').to.be.greaterThan(0);
    expect(deleted).to.include.members(landedDeleted);
    const { rows: [ev] } = await db.pool.query(
      `SELECT b.body->'deleted' AS deleted FROM raw.fetches f JOIN raw.page_bodies b ON b.sha256 = f.body_sha256
       WHERE f.run_id = $1 AND f.entity = 'tests' AND f.kind = 'updates'`, [inc.runId],
    );
    expect(landedDeleted).to.include.members(ev.deleted.map(Number));
  });

  it('schedules: QBSYNC_SYNC_CRON is applied at worker start; a tick that finds a sync running is recorded as skipped, otherwise it runs', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'tiny' });
    const lock = await acquireSyncLock(db.pool);
    let w: Worker;
    const skippedRun = async () =>
      (await db.pool.query(`SELECT status, error FROM qbsync.sync_runs WHERE requested_by = 'schedule'`)).rows;
    try {
      w = await worker(testConfig({ ...UNLIMITED, QBSYNC_SYNC_CRON: '* * * * *' }));
      expect(await getSyncSchedule(w.boss)).to.deep.include({ cron: '* * * * *', timezone: 'UTC' });
      // pg-boss sends the current minute's tick at its first cron check (its cron worker polls every 5 s).
      await waitFor(async () => (await skippedRun()).length > 0, 30_000, 'the scheduled tick');
      expect(await skippedRun()).to.deep.equal([{ status: 'cancelled', error: 'skipped: another sync was running' }]);
    } finally {
      await lock.release();
    }
    // The next tick (sent here rather than waiting a minute) runs.
    await w!.boss.send(QUEUES.sync, { mode: 'incremental', entities: [], requestedBy: 'schedule' }, { singletonKey: 'schedule' });
    await waitFor(async () => (await skippedRun()).some((r) => r.status === 'succeeded'), 60_000, 'a scheduled run');
  });

  it('CLI: schedule set / show / clear, bad cron expressions are usage errors; reset-watermark', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'tiny' });
    const env = cliEnv(db.url, sim, { QBSYNC_LOG_LEVEL: 'error' });
    const set = await runCli(['schedule', 'set', '*/15 * * * *'], env);
    expect(set.code, set.stderr).to.equal(0);
    expect((await runCli(['schedule', 'show'], env)).stdout).to.match(/"\*\/15 \* \* \* \*" \(UTC\)/);
    const bad = await runCli(['schedule', 'set', 'every minute'], env);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/"every minute" is not a valid cron expression/);
    expect((await runCli(['schedule', 'clear'], env)).stdout).to.match(/schedule cleared/);
    expect((await runCli(['schedule', 'show'], env)).stdout).to.match(/no schedule set/);

    const { logger } = capture();
    const sync = (mode: 'full' | 'incremental') => runSync({
      db, logger, recoverParents: false,
      makeClient: (onEvent) => makeClient(testConfig(), { baseUrl: sim.url, logger, onEvent, rateBudget: new MemoryRateBudget({ limit: 1e6, windowMs: 1000 }), overrides: FAST }),
    }, { mode, entities: ['tests'] });
    await sync('full');
    const to = await runCli(['reset-watermark', '--entity', 'tests', '--to', '2026-11-01'], env);
    expect(to.code, to.stderr).to.equal(0);
    expect(to.stdout).to.match(/tests: watermark .* -> 2026-11-01T00:00:00.000Z; next sync: incremental/);
    const { rows: [wm] } = await db.pool.query(`SELECT since_at, source FROM qbsync.watermarks WHERE entity = 'tests'`);
    expect(wm).to.deep.equal({ since_at: new Date('2026-11-01T00:00:00Z'), source: 'reset' });
    const inc = await sync('incremental');
    expect(inc.entities[0].mode).to.equal('incremental');
    expect(inc.entities[0].records, 'changes since Nov 1 read again').to.be.greaterThan(0);

    const forget = await runCli(['reset-watermark', '--entity', 'tests'], env);
    expect(forget.stdout).to.match(/next sync: full pass/);
    const next = await sync('incremental');
    expect(next.entities[0].mode, 'the next sync does a full pass').to.equal('full');
    expect((await runCli(['reset-watermark', '--entity', 'tests', '--to', '2026-02-30'], env)).code).to.equal(2);
  });

  it('a stopped worker leaves its chunk where it stopped; another worker finishes the backfill with each page landed once', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'small' });
    sim.setFaults({ latencyMs: 40 });
    boss = await startBoss(db.url);
    const to = new Date('2026-10-01T00:00:00Z');
    const from = new Date('2026-08-01T00:00:00Z');
    const bf = await enqueueBackfill(db, boss, { from, to, entities: ['tests'], chunkDays: 61 });
    const first = await worker(testConfig(UNLIMITED), db, { concurrency: 1 });
    await waitFor(async () => (await db.pool.query(`SELECT pages FROM qbsync.backfill_chunks WHERE backfill_id = $1`, [bf.runId])).rows[0].pages >= 2, 60_000, 'two pages');
    await first.stop();
    const { rows: [mid] } = await db.pool.query(`SELECT status, pages, next_page, start_page FROM qbsync.backfill_chunks WHERE backfill_id = $1`, [bf.runId]);
    expect(mid.status, 'back to pending after the page in flight').to.equal('pending');
    expect(mid.next_page).to.equal(mid.start_page + mid.pages);
    sim.setFaults({});
    await worker(testConfig(UNLIMITED), db, { concurrency: 1 });
    await waitFor(async () => (await runStatus(db, bf.runId)) === 'succeeded', 60_000, 'the backfill');
    const { rows: [end] } = await db.pool.query(`SELECT attempts, pages, start_page, next_page FROM qbsync.backfill_chunks WHERE backfill_id = $1`, [bf.runId]);
    expect(end.attempts).to.equal(2);
    const { rows: dup } = await db.pool.query(`SELECT page_key FROM raw.fetches WHERE page_key IS NOT NULL GROUP BY page_key HAVING count(*) > 1`);
    expect(dup).to.deep.equal([]);
    expect(await rawIdsInRange(db.pool, 'tests', from, to)).to.deep.equal(truthIdsInRange(sim, 'test', from, to));
  });

  it('CLI: qbsync worker works queued runs and stops on SIGTERM after the page in flight; the run is finished by the next worker', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'small' });
    sim.setFaults({ latencyMs: 30 });
    boss = await startBoss(db.url);
    const run = await enqueueSync(db, boss, { mode: 'full', entities: ['batches'] });
    const env = cliEnv(db.url, sim, { QBSYNC_LOG_LEVEL: 'info' });
    const { child, done } = startCli(['worker', '--concurrency', '1'], env);
    const pages = async () => (await db.pool.query(`SELECT count(*)::int AS n FROM raw.fetches WHERE run_id = $1`, [run.runId])).rows[0].n;
    await waitFor(async () => (await pages()) >= 3 || child.exitCode !== null, 60_000, 'the worker to land pages');
    const t0 = Date.now();
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code, r.stderr).to.equal(143);
    expect(Date.now() - t0, 'stopped promptly').to.be.below(15_000);
    expect(r.stderr).to.match(/worker stopping/);
    expect(r.stderr).to.match(/worker stopped/);
    expect(await runStatus(db, run.runId)).to.equal('cancelled');
    const { rows: [cp] } = await db.pool.query(`SELECT status, next_page FROM qbsync.checkpoints WHERE entity = 'batches'`);
    expect(cp.status).to.equal('running');
    expect(cp.next_page).to.be.greaterThan(1);
    sim.setFaults({});
    await worker(testConfig(UNLIMITED));
    await waitFor(async () => (await runStatus(db, run.runId)) === 'succeeded', 90_000, 'the same run to finish');
    expect(await rawIdsInRange(db.pool, 'batches', new Date(0), new Date('2100-01-01'))).to.deep.equal(sim.truth.ids('batch'));
    const { rows: dup } = await db.pool.query(`SELECT page_key FROM raw.fetches WHERE page_key IS NOT NULL GROUP BY page_key HAVING count(*) > 1`);
    expect(dup, 'no page landed twice across the stop').to.deep.equal([]);
  });
});
