import { expect } from 'chai';
import {
  planBackfill, runChunk, finalizeBackfill, recoverParents, insertEvents, inTransaction, makeClient, MemoryRateBudget, chunkLabel, runSync,
  type ChunkRow, type EntityName,
} from '../../ingest/index.js';
import { applyTransforms } from '../../jobs/index.js';
import type { SimEntity, Simulator } from '../../sim/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator, cliEnv } from '../helpers/sim.js';
import { startCli, runCli } from '../helpers/cli.js';
import { V1 } from '../helpers/raw.js';
import { chunkDeps, capture, truthIdsInRange, rawIdsInRange, testConfig, FAST, waitFor } from '../helpers/jobs.js';

const DATED: EntityName[] = ['customers', 'orders', 'samples', 'batches', 'tests'];

async function chunks(db: TestDatabase, backfillId: string): Promise<ChunkRow[]> {
  const { rows } = await db.pool.query<ChunkRow>(`SELECT * FROM qbsync.backfill_chunks WHERE backfill_id = $1 ORDER BY chunk_id`, [backfillId]);
  return rows;
}

async function runAll(db: TestDatabase, sim: Simulator, req: Parameters<typeof planBackfill>[1], opts: { transform?: boolean } = {}) {
  const { logger, text } = capture();
  const deps = { ...chunkDeps(db, sim, { logger }), ...(opts.transform ? { transform: (t: string[]) => applyTransforms(db, t, { logger, timezone: 'UTC' }) } : {}) };
  const plan = await planBackfill(db, req);
  const perChunk = new Map<number, number>();
  for (const c of plan.open) {
    const before = sim.stats().requests;
    const out = await runChunk(deps, c.chunk_id);
    expect(out.state, `${c.entity} ${chunkLabel(c)}: ${out.error ?? ''}`).to.equal('done');
    perChunk.set(c.chunk_id, sim.stats().requests - before);
  }
  const fin = await finalizeBackfill(deps, plan.backfill.backfill_id);
  return { plan, fin: fin!, perChunk, log: text };
}

function expectInRange(sim: Simulator, entity: SimEntity, raw: number[], from: Date, to: Date) {
  const truth = truthIdsInRange(sim, entity, from, to);
  expect(truth.length, `${entity} created in the range (simulator)`).to.be.greaterThan(0);
  expect(raw, `${entity} ids in raw created in the range`).to.deep.equal(truth);
}

describe('backfill by date range', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let sim: Simulator;
  afterEach(async () => {
    await sim?.close();
    await db?.drop();
  });

  it('lands exactly the records created in [from, to), finding each chunk by binary search, with per-chunk counts and volumetry', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'small' });
    const from = new Date('2026-08-03T00:00:00Z');
    const to = new Date('2026-08-24T00:00:00Z');
    const { plan, fin, perChunk } = await runAll(db, sim, { from, to, chunkDays: 7 }, { transform: true });
    expect(plan.all).to.have.length(DATED.length * 3 + 1); // 3 windows per entity + customers' undated chunk
    for (const e of DATED) expectInRange(sim, V1[e] as SimEntity, await rawIdsInRange(db.pool, e, from, to), from, to);
    // Nothing outside the range was counted, and nothing from before it was landed except boundary pages.
    const all = await chunks(db, plan.backfill.backfill_id);
    for (const c of all) {
      expect(c.status).to.equal('done');
      const truth = c.chunk_start
        ? truthIdsInRange(sim, V1[c.entity] as SimEntity, c.chunk_start, c.chunk_end!)
        : truthIdsInRange(sim, 'customer', from, to, true);
      expect(c.rows, `${c.entity} ${chunkLabel(c)} rows`).to.equal(truth.length);
      expect(c.inserted, 'a fresh database: every record is new').to.equal(c.rows);
      expect(c.updated + c.unchanged + c.skipped).to.equal(0);
      // Binary search: page 1, at most ⌈log2 pages⌉ probes, the chunk's pages, test details.
      const probes = Math.ceil(Math.log2(Math.max(2, c.total_pages ?? 1)));
      expect(perChunk.get(c.chunk_id), `${c.entity} ${chunkLabel(c)} requests (${c.total_pages} pages)`).to.be.at.most(1 + probes + c.pages + c.details + 1);
      expect(c.requests).to.equal(perChunk.get(c.chunk_id));
    }
    const { rows: [tp] } = await db.pool.query(`SELECT max(total_pages)::int AS n FROM qbsync.backfill_chunks WHERE entity = 'tests'`);
    expect(tp.n, 'the tests list is long enough for the search to matter').to.be.greaterThan(100);
    // Undated customers: the extra chunk fetched exactly the customers without a date_created.
    const undated = truthIdsInRange(sim, 'customer', from, to, true);
    expect(undated.length).to.be.greaterThan(0);
    const { rows: und } = await db.pool.query(`SELECT id FROM qbsync.raw_records WHERE entity = 'customers' AND date_created IS NULL ORDER BY id`);
    expect(und.map((r) => Number(r.id))).to.deep.equal(undated);
    // Page identity and windows.
    const { rows: pages } = await db.pool.query(
      `SELECT page_key, window_start, window_end FROM raw.fetches WHERE run_id = $1 AND kind = 'list'`, [plan.backfill.backfill_id],
    );
    expect(pages.length).to.equal(all.reduce((a, c) => a + c.pages, 0));
    for (const p of pages) {
      expect(p.page_key).to.match(new RegExp(`^bf:${plan.backfill.backfill_id}/[a-z]+/(\\d{4}-\\d{2}-\\d{2}|undated)/p\\d+$`));
      if (!p.page_key.includes('/undated/')) expect([p.window_start.getTime(), p.window_end.getTime()]).to.satisfy(([s, e]: number[]) => s >= from.getTime() && e <= to.getTime());
    }
    // Volumetry: fetched = raw = typed for every entity, stored on the backfill and the run closed.
    expect(fin.backfill.status).to.equal('succeeded');
    expect(fin.volumetry.agree, JSON.stringify(fin.volumetry.entities)).to.equal(true);
    for (const v of fin.volumetry.entities) {
      expect(v.fetched, v.entity).to.equal(truthIdsInRange(sim, V1[v.entity] as SimEntity, from, to).length);
      expect(v.raw).to.equal(v.fetched);
      expect(v.typed, `${v.entity} typed rows`).to.equal(v.fetched);
    }
    const { rows: [run] } = await db.pool.query(`SELECT mode, status, pages FROM qbsync.sync_runs WHERE run_id = $1`, [plan.backfill.backfill_id]);
    expect(run).to.deep.include({ mode: 'backfill', status: 'succeeded', pages: pages.length });
  });

  it('skips done chunks when run again; a later re-fetch counts updated and unchanged records against raw', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'small' });
    const to = sim.now();
    const from = new Date(to.getTime() - 10 * 86_400_000);
    const req = { from, to, entities: ['tests'] as EntityName[], chunkDays: 5 };
    const first = await runAll(db, sim, req);
    expect(first.fin.backfill.status).to.equal('succeeded');
    const again = await planBackfill(db, req);
    expect(again.backfill.backfill_id).to.equal(first.plan.backfill.backfill_id);
    expect(again.open, 'nothing left to do').to.have.length(0);
    expect(again.created).to.equal(false);

    sim.advance(48); // tests created in the range move on (started, completed, reported)
    const second = await runAll(db, sim, { ...req, again: true });
    expect(second.plan.backfill.backfill_id).to.not.equal(first.plan.backfill.backfill_id);
    const c2 = await chunks(db, second.plan.backfill.backfill_id);
    const sum = (k: 'rows' | 'inserted' | 'updated' | 'unchanged') => c2.reduce((a, c) => a + c[k], 0);
    expect(sum('inserted'), 'no test created in the range after it ended').to.equal(0);
    expect(sum('updated'), 'tests that changed since the first backfill').to.be.greaterThan(0);
    expect(sum('unchanged')).to.be.greaterThan(0);
    expect(sum('updated') + sum('unchanged')).to.equal(sum('rows'));
    const { rows: [old] } = await db.pool.query(`SELECT status FROM qbsync.backfills WHERE backfill_id = $1`, [first.plan.backfill.backfill_id]);
    expect(old.status).to.equal('superseded');
  });

  it('recovers parents missing from raw by id, and records the ones QBench does not know (3 tries)', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'small' });
    const from = new Date('2026-10-05T00:00:00Z');
    const to = new Date('2026-10-12T00:00:00Z');
    const { plan, log } = await runAll(db, sim, { from, to, entities: ['samples'], chunkDays: 7 });
    // Every sample's order, and every such order's customer, is now in raw (fetched by id).
    const { rows: links } = await db.pool.query(
      `SELECT DISTINCT (item->>'order_id')::bigint AS order_id FROM raw.fetches f JOIN raw.page_bodies b ON b.sha256 = f.body_sha256,
              jsonb_array_elements(b.body->'data') item WHERE f.run_id = $1 AND f.entity = 'samples'`,
      [plan.backfill.backfill_id],
    );
    expect(links.length).to.be.greaterThan(0);
    const { rows: orders } = await db.pool.query(`SELECT id FROM qbsync.raw_records WHERE entity = 'orders'`);
    expect(orders.map((r) => Number(r.id))).to.include.members(links.map((l) => Number(l.order_id)));
    const { rows: rec } = await db.pool.query(`SELECT entity, status, count(*)::int AS n FROM qbsync.recovery_log GROUP BY 1, 2 ORDER BY 1`);
    expect(rec.map((r) => `${r.entity}:${r.status}`)).to.deep.equal(['customers:recovered', 'orders:recovered']);
    expect(rec.find((r) => r.entity === 'orders').n).to.equal(links.length);
    const { rows: det } = await db.pool.query(`SELECT count(*)::int AS n FROM raw.fetches WHERE run_id = $1 AND kind = 'detail' AND entity = 'orders'`, [plan.backfill.backfill_id]);
    expect(det[0].n).to.equal(links.length);
    expect(log()).to.match(/parent recovery: \d+ missing orders of landed samples/);

    // A test pointing at a sample QBench does not have: unknown_sample, 3 tries over 3 runs, then no more requests.
    const runId = '00000000-0000-4000-8000-000000000001';
    await inTransaction(db.pool, (c) => insertEvents(c, [{
      runId, entity: 'tests', kind: 'detail', endpoint: '/qbench/api/v1/test/999999', params: {}, httpStatus: 200, recordCount: 1,
      body: { id: 999999, sample_id: 987654, date_created: '10/06/2026 10:00 AM', last_updated: '1790000000' }, fetchedAt: new Date(), durationMs: 1,
    }]));
    const { logger } = capture();
    const client = makeClient(testConfig(), { baseUrl: sim.url, logger, rateBudget: new MemoryRateBudget({ limit: 1e6, windowMs: 1000 }), overrides: FAST });
    for (let i = 1; i <= 4; i++) {
      sim.resetStats();
      const r = await recoverParents({ db, client, logger, runId, children: ['tests'] });
      if (i <= 3) {
        expect(r.failed.map((f) => [f.entity, f.id, f.reason]), `try ${i}`).to.deep.equal([['samples', 987654, 'unknown_sample']]);
        expect(sim.stats().byPath).to.have.property('GET /qbench/api/v1/sample/:id');
      } else {
        expect(r.gaveUp).to.equal(1);
        expect(sim.stats().requests, 'a parent that failed 3 times is not asked again').to.equal(0);
      }
    }
    const { rows: [bad] } = await db.pool.query(`SELECT status, reason, attempts, child_entity, child_id FROM qbsync.recovery_log WHERE entity = 'samples'`);
    expect(bad).to.deep.equal({ status: 'failed', reason: 'unknown_sample', attempts: 3, child_entity: 'tests', child_id: 999999 });
  });

  it('a sync of a child entity alone recovers its missing parents by id (sync hook)', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'tiny' });
    const { logger } = capture();
    const out = await runSync(
      { db, logger, makeClient: (onEvent) => makeClient(testConfig(), { baseUrl: sim.url, logger, onEvent, rateBudget: new MemoryRateBudget({ limit: 1e6, windowMs: 1000 }), overrides: FAST }) },
      { mode: 'full', entities: ['samples'] },
    );
    expect(out.status).to.equal('succeeded');
    const orderIds = [...new Set(sim.truth.ids('sample').map((id) => Number(sim.truth.get('sample', id)!.order_id)))].sort((a, b) => a - b);
    expect(out.recovery?.recoveredByEntity.orders).to.equal(orderIds.length);
    const { rows } = await db.pool.query(`SELECT id FROM qbsync.raw_records WHERE entity = 'orders' ORDER BY id`);
    expect(rows.map((r) => Number(r.id))).to.deep.equal(orderIds);
    const { rows: [c] } = await db.pool.query(`SELECT count(*)::int AS n FROM qbsync.raw_records WHERE entity = 'customers'`);
    expect(c.n, 'and the customers of those orders').to.be.greaterThan(0);
    const { rows: [run] } = await db.pool.query(`SELECT detail_fetches FROM qbsync.sync_runs WHERE run_id = $1`, [out.runId]);
    expect(run.detail_fetches).to.equal(orderIds.length + c.n);
  });

  it('CLI: a backfill killed with SIGKILL and run again completes only the missing chunks and lands every record of the range', async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'small' });
    sim.setFaults({ latencyMs: 15 });
    const env = cliEnv(db.url, sim, { QBSYNC_LOG_LEVEL: 'warn' });
    const args = ['backfill', '--from', '2026-07-06', '--to', '2026-08-31', '--entity', 'orders,samples,tests', '--chunk-days', '7', '--no-transform'];
    const { child, done } = startCli(args, env);
    const doneChunks = async () => (await db.pool.query(`SELECT count(*)::int AS n FROM qbsync.backfill_chunks WHERE status = 'done'`).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n;
    await waitFor(async () => (await doneChunks()) >= 6 || child.exitCode !== null, 60_000, 'six chunks done');
    expect(child.exitCode, 'still running when killed').to.equal(null);
    child.kill('SIGKILL');
    const killed = await done;
    expect(killed.signal).to.equal('SIGKILL');
    const { rows: before } = await db.pool.query<ChunkRow>(`SELECT * FROM qbsync.backfill_chunks ORDER BY chunk_id`);
    const doneBefore = before.filter((c) => c.status === 'done');
    expect(doneBefore.length).to.be.at.least(6);
    expect(doneBefore.length, 'killed mid-way').to.be.lessThan(before.length);

    sim.setFaults({});
    const again = await runCli(args, env);
    expect(again.code, again.stderr + again.stdout).to.equal(0);
    expect(again.stdout).to.match(new RegExp(`${before.length} chunks, ${doneBefore.length} done before, ${before.length - doneBefore.length} to do`));
    expect(again.stdout).to.match(/volumetry: fetched, raw counts agree/);
    const { rows: after } = await db.pool.query<ChunkRow>(`SELECT * FROM qbsync.backfill_chunks ORDER BY chunk_id`);
    for (const c of after) {
      expect(c.status).to.equal('done');
      const was = doneBefore.find((d) => d.chunk_id === c.chunk_id);
      if (was) {
        expect(c.attempts, 'a done chunk is not worked again').to.equal(was.attempts);
        expect(c.finished_at!.getTime()).to.equal(was.finished_at!.getTime());
      }
    }
    const from = new Date('2026-07-06T00:00:00Z');
    const to = new Date('2026-08-31T00:00:00Z');
    for (const e of ['orders', 'samples', 'tests'] as const) expectInRange(sim, V1[e] as SimEntity, await rawIdsInRange(db.pool, e, from, to), from, to);
    const { rows: dup } = await db.pool.query(`SELECT page_key FROM raw.fetches WHERE page_key LIKE 'bf:%' GROUP BY page_key HAVING count(*) > 1`);
    expect(dup).to.deep.equal([]);
  });

  it('CLI: bad ranges and chunk sizes are usage errors naming the flag', async () => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: 'postgres://nobody:x@127.0.0.1:1/none' };
    const same = await runCli(['backfill', '--from', '2024-02-01', '--to', '2024-02-01'], env);
    expect(same.code).to.equal(2);
    expect(same.stderr).to.match(/--from .* must be before --to/);
    const zero = await runCli(['backfill', '--from', '2024-01-01', '--to', '2024-02-01', '--chunk-days', '0'], env);
    expect(zero.code).to.equal(2);
    expect(zero.stderr).to.match(/--chunk-days/);
    const bad = await runCli(['backfill', '--from', '2024-02-30', '--to', '2024-03-01'], env);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/--from must be a date/);
    const ent = await runCli(['backfill', '--from', '2024-01-01', '--to', '2024-02-01', '--entity', 'widgets'], env);
    expect(ent.code).to.equal(2);
    expect(ent.stderr).to.match(/Unknown QBench entity "widgets"/);
  });
});
