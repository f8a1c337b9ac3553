/**
 * Backfill chunks against hand-made v1 lists (a fake client), for the cases the simulator does not produce:
 * records deleted before the chunk's position while it pages forward, and customers whose null dates sort
 * last instead of first.
 */
import { expect } from 'chai';
import { planBackfill, runChunk, getBackfill, type QBenchClient } from '../../ingest/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { capture } from '../helpers/jobs.js';

interface Rec { id: number; date_created: string | null; last_updated: string }

const pad = (n: number) => String(n).padStart(2, '0');
/** QBench's "MM/DD/YYYY hh:mm AM/PM" (UTC). */
function qbDate(t: number): string {
  const d = new Date(t);
  const h = d.getUTCHours();
  return `${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${d.getUTCFullYear()} ${pad(h % 12 || 12)}:${pad(d.getUTCMinutes())} ${h < 12 ? 'AM' : 'PM'}`;
}

let port = 0;
/** A v1 list sorted by date_created asc (the array's order), paged like QBench; `afterPage` may change the list. */
function fakeClient(entity: string, list: Rec[], afterPage?: (pageNum: number) => void) {
  const served: number[] = [];
  const client = {
    baseUrl: `http://fake.invalid:${++port}`,
    async listPage(_e: string, o: { pageNum: number; pageSize?: number }) {
      const size = o.pageSize ?? 50;
      const data = list.slice((o.pageNum - 1) * size, o.pageNum * size).map((r) => ({ ...r }));
      const totalPages = Math.ceil(list.length / size);
      const out = {
        skipped: false, entity, pageNum: o.pageNum, pageSize: size, data, totalPages, totalCount: list.length,
        body: { total_count: list.length, total_pages: totalPages, data }, extraKeys: {}, status: 200,
        params: { page_num: String(o.pageNum), page_size: String(size), sort_by: 'date_created', sort_order: 'asc' },
        path: `/qbench/api/v1/${entity}`, durationMs: 1, attempts: 1, fetchedAt: new Date(),
      };
      served.push(o.pageNum);
      afterPage?.(o.pageNum);
      return out;
    },
    async getDetail() {
      return null;
    },
  };
  return { client: client as unknown as QBenchClient, served };
}

async function rawIds(db: TestDatabase, entity: string): Promise<number[]> {
  const { rows } = await db.pool.query(`SELECT id FROM qbsync.raw_records WHERE entity = $1 ORDER BY id`, [entity]);
  return rows.map((r) => Number(r.id));
}

describe('backfill chunks on edge-case lists', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  afterEach(async () => {
    await db?.drop();
  });

  it('records deleted before the chunk while it pages forward: the shifted pages are read again, nothing is missed', async () => {
    db = await createTestDatabase();
    const t0 = Date.parse('2024-01-01T00:00:00Z');
    const list: Rec[] = Array.from({ length: 1000 }, (_, i) => ({ id: i + 1, date_created: qbDate(t0 + i * 3600_000), last_updated: String(1_700_000_000 + i) }));
    const from = new Date('2024-01-10T00:00:00Z');
    const to = new Date('2024-01-20T00:00:00Z');
    const want = list.filter((r) => { const t = t0 + (r.id - 1) * 3600_000; return t >= from.getTime() && t < to.getTime(); }).map((r) => r.id);
    let deleted = false;
    const { client } = fakeClient('order', list, (n) => {
      // Once page 7 (inside the window, never a probe here) is read, seven records far before the window
      // disappear: everything after them shifts left, so page 8's first records move to page 7.
      if (n === 7 && !deleted) {
        list.splice(99, 7);
        deleted = true;
      }
    });
    const plan = await planBackfill(db, { from, to, entities: ['orders'], chunkDays: 10, pageSize: 50 });
    const { logger } = capture();
    const out = await runChunk({ db, logger, makeClient: () => client }, plan.open[0].chunk_id);
    expect(out.state).to.equal('done');
    expect(deleted, 'the list changed mid-chunk').to.equal(true);
    expect(await rawIds(db, 'orders')).to.include.members(want);
    const { rows } = await db.pool.query(`SELECT page_key FROM raw.fetches WHERE page_key LIKE '%.a1r1'`);
    expect(rows.length, 'a page was read again after the shift').to.be.greaterThan(0);
    const got = await getBackfill(db.pool, plan.backfill.backfill_id);
    expect(got!.chunks[0].rows).to.equal(want.length);
  });

  it('customers whose null dates sort last: the undated chunk reads them from the last page backwards', async () => {
    db = await createTestDatabase();
    const t0 = Date.parse('2024-03-01T00:00:00Z');
    const dated: Rec[] = Array.from({ length: 42 }, (_, i) => ({ id: 100 + i, date_created: qbDate(t0 + i * 86_400_000), last_updated: '1700000000' }));
    const undated: Rec[] = Array.from({ length: 13 }, (_, i) => ({ id: 10 + i, date_created: null, last_updated: '1700000000' }));
    const { client, served } = fakeClient('customer', [...dated, ...undated]);
    const from = new Date('2024-03-10T00:00:00Z');
    const to = new Date('2024-03-20T00:00:00Z');
    const plan = await planBackfill(db, { from, to, entities: ['customers'], chunkDays: 10, pageSize: 10 });
    expect(plan.open.map((c) => c.chunk_start?.toISOString() ?? 'undated')).to.deep.equal(['undated', from.toISOString()]);
    const { logger } = capture();
    for (const c of plan.open) expect((await runChunk({ db, logger, makeClient: () => client }, c.chunk_id)).state).to.equal('done');
    const got = (await getBackfill(db.pool, plan.backfill.backfill_id))!;
    const und = got.chunks.find((c) => !c.chunk_start)!;
    const win = got.chunks.find((c) => c.chunk_start)!;
    expect(und.rows).to.equal(13);
    expect(win.rows).to.equal(10);
    const { rows: nulls } = await db.pool.query(`SELECT id FROM qbsync.raw_records WHERE entity = 'customers' AND date_created IS NULL ORDER BY id`);
    expect(nulls.map((r) => Number(r.id))).to.deep.equal(undated.map((r) => r.id));
    expect(served.slice(0, 3), 'page 1 (dated: nulls are last), then the last pages backwards').to.deep.equal([1, 6, 5]);
  });
});
