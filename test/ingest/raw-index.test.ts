import crypto from 'node:crypto';
import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator } from '../helpers/sim.js';
import { capture, testConfig, FAST } from '../helpers/jobs.js';
import { insertEvents, inTransaction, type RawEvent } from '../../ingest/landing.js';
import { indexRaw, rebuildRawIndex, rawIndexLag } from '../../ingest/raw-index.js';
import { runSync, makeClient, MemoryRateBudget } from '../../ingest/index.js';
import { recordHistory } from '../../api/queries/entities.js';
import type { Simulator } from '../../sim/index.js';

const RUN = crypto.randomUUID();
let seq = 0;
const ev = (entity: string, kind: RawEvent['kind'], body: unknown): RawEvent => ({
  runId: RUN, entity: entity as RawEvent['entity'], kind, endpoint: `/t/${entity}`, params: { n: ++seq }, httpStatus: 200,
  recordCount: 1, body, fetchedAt: new Date(), durationMs: 1,
});
const list = (entity: string, data: unknown[]) => ev(entity, 'list', { data, total_pages: 1, total_count: data.length, qba: crypto.randomBytes(3).toString('hex') });
const land = async (db: TestDatabase, e: RawEvent): Promise<number> => {
  const c = await db.pool.connect();
  try {
    return (await insertEvents(c, [e])).fetchIds[0];
  } finally {
    c.release();
  }
};
const rec = async (db: TestDatabase, entity: string, id: number) =>
  (await db.pool.query(`SELECT last_updated, record_md5 IS NOT NULL AS hashed, deleted, first_fetch_id, fetch_id FROM qbsync.raw_records WHERE entity = $1 AND id = $2`, [entity, id])).rows[0];
const snapshot = async (db: TestDatabase) => ({
  records: (await db.pool.query(`SELECT * FROM qbsync.raw_records ORDER BY entity, id`)).rows,
  events: (await db.pool.query(`SELECT * FROM qbsync.raw_record_events ORDER BY entity, id, fetch_id`)).rows,
});

describe('raw index (qbsync.index_raw: raw_records and raw_record_events off the landing path)', function () {
  this.timeout(240_000);
  let db: TestDatabase;
  afterEach(async () => {
    await db?.drop();
  });

  it('landing leaves the index alone; indexRaw applies the rules: newer wins, first event of a version, deletions, undated records, repeated bodies', async () => {
    db = await createTestDatabase();
    const a1 = await land(db, list('orders', [{ id: 1, last_updated: '100', date_created: '01/02/2025 03:04 PM' }, { id: 2, last_updated: '100' }]));
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM qbsync.raw_records`)).rows[0].n, 'nothing indexed by a landing').to.equal(0);
    const r = await indexRaw(db.pool);
    expect(r.events).to.equal(1);
    expect(await rec(db, 'orders', 1)).to.deep.equal({ last_updated: 100, hashed: false, deleted: false, first_fetch_id: a1, fetch_id: a1 });
    const { rows: [dc] } = await db.pool.query(`SELECT date_created FROM qbsync.raw_records WHERE entity = 'orders' AND id = 1`);
    expect(dc.date_created.toISOString()).to.equal('2025-01-02T15:04:00.000Z');

    // Same version again (another page), an older one, then a newer one: the first event of the newest version is kept.
    await land(db, list('orders', [{ id: 1, last_updated: '100', x: 1 }]));
    await land(db, list('orders', [{ id: 1, last_updated: '90' }]));
    const a4 = await land(db, list('orders', [{ id: 1, last_updated: '120' }]));
    await land(db, list('orders', [{ id: 1, last_updated: '120', y: 2 }]));
    // Deleted by the Updates feed, then an old version re-fetched (stays deleted), then the same answer's id in updated[] and deleted[].
    await land(db, ev('orders', 'updates', { updated: [], deleted: [2, '1'] }));
    await land(db, list('orders', [{ id: 2, last_updated: '100', z: 3 }]));
    const a8 = await land(db, ev('orders', 'updates', { updated: [{ id: 3, last_updated: '50' }], deleted: [{ id: 3 }] }));
    // Undated records: the content decides (A, B, A: the last A, from the event that brought it back); a body landed
    // before (B's page again) is not applied again.
    const u1 = await land(db, list('customers', [{ id: 7, name: 'A' }]));
    await land(db, list('customers', [{ id: 7, name: 'B' }]));
    const u3 = await land(db, list('customers', [{ id: 7, name: 'A' }, { id: 8, name: 'other' }]));
    await land(db, list('customers', [{ id: 7, name: 'B' }]));
    await indexRaw(db.pool);
    expect(await rec(db, 'orders', 1)).to.deep.equal({ last_updated: 120, hashed: false, deleted: true, first_fetch_id: a1, fetch_id: a4 });
    expect(await rec(db, 'orders', 2)).to.include({ deleted: true, fetch_id: a1 });
    expect(await rec(db, 'orders', 3)).to.deep.equal({ last_updated: 50, hashed: false, deleted: true, first_fetch_id: a8, fetch_id: a8 });
    expect(await rec(db, 'customers', 7)).to.deep.equal({ last_updated: null, hashed: true, deleted: false, first_fetch_id: u1, fetch_id: u3 });
    // A newer version un-deletes.
    const a9 = await land(db, ev('orders', 'detail', { id: 2, last_updated: '130' }));
    await indexRaw(db.pool);
    expect(await rec(db, 'orders', 2)).to.include({ deleted: false, fetch_id: a9, last_updated: 130 });
    // Every event that carried a record is in raw_record_events, repeated bodies included.
    const { rows: evs } = await db.pool.query(`SELECT fetch_id FROM qbsync.raw_record_events WHERE entity = 'orders' AND id = 1 ORDER BY fetch_id`);
    expect(evs.length).to.equal(5);
    expect(await rawIndexLag(db.pool)).to.include({ behind: 0 });

    // The same data indexed one event at a time gives the same tables (the rules do not depend on batches).
    const once = await snapshot(db);
    await db.pool.query(`TRUNCATE qbsync.raw_records, qbsync.raw_record_events; DELETE FROM qbsync.raw_index_state`);
    const { rows: ids } = await db.pool.query(`SELECT id FROM raw.fetches ORDER BY id`);
    for (const { id } of ids) await db.pool.query(`SELECT qbsync.index_raw($1)`, [id]);
    expect(await snapshot(db)).to.deep.equal(once);
    await rebuildRawIndex(db.pool);
    expect(await snapshot(db)).to.deep.equal(once);
  });

  it('a landing that drew a lower id but commits later is not passed by the mark: indexRaw waits for it', async () => {
    db = await createTestDatabase();
    await land(db, list('orders', [{ id: 1, last_updated: '100' }]));
    await indexRaw(db.pool);
    // tx1 draws its id first and stays open; a later landing commits a higher id.
    const tx1 = await db.pool.connect();
    await tx1.query('BEGIN');
    const low = (await insertEvents(tx1, [list('orders', [{ id: 10, last_updated: '100' }])])).fetchIds[0];
    const high = await inTransaction(db.pool, async (c) => (await insertEvents(c, [list('orders', [{ id: 11, last_updated: '100' }])])).fetchIds[0]);
    expect(high).to.be.greaterThan(low);
    let done = false;
    const p = indexRaw(db.pool).then((r) => {
      done = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 400));
    expect(done, 'indexRaw waits for the landing in flight').to.equal(false);
    await tx1.query('COMMIT');
    tx1.release();
    const r = await p;
    expect(r.mark).to.equal(high);
    const { rows } = await db.pool.query(`SELECT id FROM qbsync.raw_records WHERE entity = 'orders' ORDER BY id`);
    expect(rows.map((x) => Number(x.id))).to.deep.equal([1, 10, 11]);
    // Concurrent callers: one does the work, the others find it done.
    for (let i = 0; i < 5; i++) await land(db, list('orders', [{ id: 20 + i, last_updated: '100' }]));
    const all = await Promise.all([indexRaw(db.pool), indexRaw(db.pool), indexRaw(db.pool)]);
    expect(all.reduce((n, x) => n + x.events, 0)).to.equal(5);
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM qbsync.raw_records WHERE entity = 'orders'`)).rows[0].n).to.equal(8);
  });

  describe('with simulator data', () => {
    let sim: Simulator;
    before(async () => {
      sim = await testSimulator({ size: 'small' });
    });
    after(async () => {
      await sim?.close();
    });

    it('history reads the indexed events and the unindexed tail alike; a sync, an advance and a second sync index to the same tables one event at a time', async () => {
      db = await createTestDatabase();
      const { logger } = capture();
      const sync = (mode: 'full' | 'incremental') => runSync({
        db, logger, recoverParents: false,
        makeClient: (onEvent) => makeClient(testConfig(), { baseUrl: sim.url, logger, onEvent, rateBudget: new MemoryRateBudget({ limit: 1e6, windowMs: 1000 }), overrides: FAST }),
      }, { mode });
      await sync('full');
      // Without parent recovery, nothing in the run reads the index: it is left to its readers (no background indexing).
      const lag = await rawIndexLag(db.pool);
      expect(lag.mark, 'events indexed by a sync without parent recovery').to.equal(0);
      expect(lag.behind).to.be.greaterThan(100);
      expect(sim.advance(48).deleted).to.be.greaterThan(0);
      await sync('incremental');
      await sync('full');
      // Nothing indexed: every event is in the tail (a sync without parent recovery leaves the index to its readers).
      await db.pool.query(`TRUNCATE qbsync.raw_records, qbsync.raw_record_events; DELETE FROM qbsync.raw_index_state`);
      const { rows: picks } = await db.pool.query(
        `SELECT DISTINCT ON (f.entity) f.entity, (rec ->> 'id')::bigint AS id
         FROM raw.fetches f JOIN raw.page_bodies b ON b.sha256 = f.body_sha256, jsonb_array_elements(qbsync.records_of(f.kind, b.body)) rec
         WHERE f.entity IN ('orders', 'tests', 'customers') ORDER BY f.entity, f.id DESC`,
      );
      const before = await Promise.all(picks.map((p) => recordHistory(db.pool, p.entity, Number(p.id), 100, 0)));
      for (const h of before) expect(h.length).to.be.greaterThan(1);
      // Half indexed: the mark in the middle of raw.
      const { rows: [mid] } = await db.pool.query(`SELECT (max(id) / 2)::bigint AS m FROM raw.fetches`);
      await db.pool.query(`SELECT qbsync.index_raw($1)`, [mid.m]);
      expect(await Promise.all(picks.map((p) => recordHistory(db.pool, p.entity, Number(p.id), 100, 0)))).to.deep.equal(before);
      await indexRaw(db.pool);
      expect(await Promise.all(picks.map((p) => recordHistory(db.pool, p.entity, Number(p.id), 100, 0)))).to.deep.equal(before);
      // Paging after a fetch id in the indexed part.
      const h0 = before[0];
      expect(await recordHistory(db.pool, picks[0].entity, Number(picks[0].id), 100, h0[0].fetch_id)).to.deep.equal(h0.slice(1));

      const whole = await snapshot(db);
      const { rows: [{ n }] } = await db.pool.query(`SELECT count(*)::int AS n FROM qbsync.raw_records WHERE deleted`);
      expect(n, 'the advance deleted records the Updates feed reported').to.be.greaterThan(0);
      await db.pool.query(`TRUNCATE qbsync.raw_records, qbsync.raw_record_events; DELETE FROM qbsync.raw_index_state`);
      const { rows: ids } = await db.pool.query(`SELECT id FROM raw.fetches ORDER BY id`);
      for (const { id } of ids) await db.pool.query(`SELECT qbsync.index_raw($1)`, [id]);
      expect(await snapshot(db)).to.deep.equal(whole);
    });
  });
});
