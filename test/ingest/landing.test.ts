import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator } from '../helpers/sim.js';
import { capture, testConfig, FAST } from '../helpers/jobs.js';
import { rawIds, duplicatePages, V1 } from '../helpers/raw.js';
import { runSync, makeClient, MemoryRateBudget, type EntityName } from '../../ingest/index.js';
import type { Simulator } from '../../sim/index.js';

describe('full-pass landing (bodies stored ahead, pages landed in one statement each)', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let sim: Simulator;
  afterEach(async () => {
    await sim?.close();
    await db?.drop();
  });

  const sync = (logger: ReturnType<typeof capture>['logger'], entities: EntityName[], onLanded?: () => Promise<void>) => runSync({
    db, logger, recoverParents: false, onLanded,
    makeClient: (onEvent) => makeClient(testConfig(), { baseUrl: sim.url, logger, onEvent, rateBudget: new MemoryRateBudget({ limit: 1e6, windowMs: 1000 }), overrides: FAST }),
  }, { mode: 'full', entities });

  for (const hook of [false, true]) {
    it(`a body stored ahead but lost before its page lands (a crash before its asynchronous commit reached the disk) is stored again${hook ? ' (landing in a transaction with a hook)' : ''}`, async () => {
      db = await createTestDatabase();
      sim = await testSimulator({ size: 'tiny' });
      const { logger, lines } = capture();
      // Just before the third landing statement, the bodies its pages reference disappear (as after a crash).
      const query = db.pool.query.bind(db.pool) as (...a: unknown[]) => Promise<unknown>;
      let landings = 0;
      let removed = 0;
      const remove = async (values: unknown[]) => {
        const hashes = (values.find((v) => Array.isArray(v) && v.length && /^[0-9a-f]{64}$/.test(String(v[0]))) ?? []) as string[];
        const c = await db.pool.connect();
        try {
          await c.query(`BEGIN; SET LOCAL qbsync.allow_raw_prune = 'on'`);
          removed += (await c.query(`DELETE FROM raw.page_bodies WHERE sha256 = ANY($1)`, [hashes])).rowCount ?? 0;
          await c.query('COMMIT');
        } finally {
          c.release();
        }
      };
      const intercept = async (q: { text?: string; values?: unknown[] }) => {
        if (typeof q === 'object' && q?.text?.startsWith('WITH cp AS') && ++landings === 3) await remove(q.values ?? []);
      };
      (db.pool as unknown as { query: unknown }).query = async (...a: unknown[]) => {
        await intercept(a[0] as { text?: string });
        return query(...a);
      };
      const connect = db.pool.connect.bind(db.pool);
      if (hook) {
        (db.pool as unknown as { connect: unknown }).connect = async (cb?: unknown) => {
          if (cb) return (connect as (cb: unknown) => void)(cb); // pool.query's own checkout
          const c = await connect();
          const cq = c.query.bind(c) as (...a: unknown[]) => Promise<unknown>;
          (c as unknown as { query: unknown }).query = async (...a: unknown[]) => {
            await intercept(a[0] as { text?: string });
            return cq(...a);
          };
          return c;
        };
      }
      const out = await sync(logger, ['orders', 'samples'], hook ? async () => undefined : undefined);
      expect(out.status).to.equal('succeeded');
      expect(removed, 'the test removed bodies').to.be.greaterThan(0);
      expect(lines.join('')).to.include('storing it again');
      for (const e of ['orders', 'samples']) expect(await rawIds(db.pool, e), e).to.deep.equal(sim.truth.ids(V1[e]));
      expect(await duplicatePages(db.pool)).to.deep.equal([]);
      const { rows: [run] } = await db.pool.query(`SELECT pages FROM qbsync.sync_runs WHERE run_id = $1`, [out.runId]);
      const { rows: [n] } = await db.pool.query(`SELECT count(*)::int AS pages FROM raw.fetches WHERE kind = 'list' AND run_id = $1`, [out.runId]);
      expect(run.pages).to.equal(n.pages);
    });
  }
});
