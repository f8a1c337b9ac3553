import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

describe('raw landing schema', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    await db.pool.query(`INSERT INTO raw.page_bodies (sha256, body, bytes) VALUES (repeat('a', 64), '{"data": []}', 12)`);
    await db.pool.query(
      `INSERT INTO raw.fetches (run_id, entity, kind, endpoint, http_status, record_count, body_sha256, fetched_at, duration_ms)
       VALUES (gen_random_uuid(), 'customers', 'list', '/qbench/api/v1/customer', 200, 0, repeat('a', 64), now(), 5)`,
    );
  });
  after(() => db.drop());

  for (const [what, sql] of [
    ['UPDATE raw.fetches', `UPDATE raw.fetches SET record_count = 1`],
    ['DELETE raw.fetches', `DELETE FROM raw.fetches`],
    ['TRUNCATE raw.fetches', `TRUNCATE raw.fetches`],
    ['UPDATE raw.page_bodies', `UPDATE raw.page_bodies SET bytes = 1`],
    ['DELETE raw.page_bodies', `DELETE FROM raw.page_bodies`],
    ['TRUNCATE raw.page_bodies', `TRUNCATE raw.page_bodies CASCADE`],
  ] as const) {
    it(`refuses ${what}`, async () => {
      let error: Error | undefined;
      try {
        await db.pool.query(sql);
      } catch (err) {
        error = err as Error;
      }
      expect(error?.message).to.match(/append-only/);
      const { rows } = await db.pool.query('SELECT count(*)::int AS n, max(record_count) AS rc FROM raw.fetches');
      expect(rows[0]).to.deep.equal({ n: 1, rc: 0 });
    });
  }

  it('allows DELETE only inside an explicit prune transaction', async () => {
    const c = await db.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query(`SET LOCAL qbsync.allow_raw_prune = 'on'`);
      const r = await c.query('DELETE FROM raw.fetches');
      expect(r.rowCount).to.equal(1);
      await c.query('ROLLBACK');
    } finally {
      c.release();
    }
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM raw.fetches');
    expect(rows[0].n).to.equal(1);
  });
});
