import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator } from '../helpers/sim.js';
import { capture, testConfig, FAST } from '../helpers/jobs.js';
import { runSync, makeClient, MemoryRateBudget, prepareBody } from '../../ingest/index.js';
import { BodyPool } from '../../ingest/body-pool.js';
import type { Simulator } from '../../sim/index.js';

describe('body pool (page bodies prepared on worker threads)', function () {
  this.timeout(120_000);

  it('prepares exactly what the main thread prepares, random key split off; a stopped worker makes it refuse, not hang', async () => {
    const texts = [
      '{"data":[{"id":2,"b":"x","a":1.5,"z":{"y":[1,"\\u00e9",null]}}],"total_pages":3,"total_count":null,"qba":"491aef8"}',
      '{"id":7,"label_abbr":"CN","qbde7":"3e9f356fc547","nested":{"10":1,"9":2}}',
      '[1,2,3]',
    ];
    const pool = new BodyPool(2);
    try {
      const got = await pool.prepare(texts);
      expect(got).to.deep.equal(texts.map((t) => prepareBody(JSON.parse(t))));
      expect(got[0].extraKeys).to.deep.equal({ qba: '491aef8' });
      expect(await pool.prepare([])).to.deep.equal([]);
      // A text that is not JSON is refused with the parser's reason (the pool stays usable).
      await pool.prepare(['{"a":']).then(() => expect.fail('accepted a truncated body'), (err: Error) => expect(err.message).to.match(/^body worker: /));
      expect(await pool.prepare([texts[2]])).to.deep.equal([prepareBody([1, 2, 3])]);
      // A worker that stops (as a crash would) rejects what it held and everything after.
      await pool.threads[0].terminate();
      await pool.prepare(texts).then(() => expect.fail('a broken pool prepared bodies'), (err: Error) => expect(err.message).to.match(/body worker stopped/));
    } finally {
      await pool.close();
    }
  });

  describe('in a full sync', () => {
    let sim: Simulator;
    const dbs: TestDatabase[] = [];
    before(async () => {
      sim = await testSimulator({ size: 'small' });
    });
    after(async () => {
      await sim?.close();
      for (const db of dbs) await db.drop();
    });
    const bodies = async (db: TestDatabase) =>
      (await db.pool.query<{ sha256: string; body: unknown }>(`SELECT sha256, body FROM raw.page_bodies ORDER BY sha256`)).rows;
    const sync = async (bodyWorkers: number) => {
      const db = await createTestDatabase();
      dbs.push(db);
      const { logger, lines } = capture();
      const out = await runSync({
        db, logger, recoverParents: false, bodyWorkers,
        makeClient: (onEvent) => makeClient(testConfig(), { baseUrl: sim.url, logger, onEvent, rateBudget: new MemoryRateBudget({ limit: 1e6, windowMs: 1000 }), overrides: FAST }),
      }, { mode: 'full' });
      expect(out.status).to.equal('succeeded');
      return { db, lines };
    };

    it('lands the same bodies under the same addresses with 2 workers as with none', async () => {
      const main = await sync(0);
      const pooled = await sync(2);
      const a = await bodies(main.db);
      expect(a.length).to.be.greaterThan(500);
      expect(await bodies(pooled.db)).to.deep.equal(a);
      const log = pooled.lines.join('');
      expect(log).to.not.match(/body workers unavailable/);
      const done = /"message":"(\d+) page bodies prepared on 2 worker threads"/.exec(log);
      expect(done, 'the run logs what its workers did').to.not.equal(null);
      expect(Number(done![1])).to.equal(a.length);
      expect(main.lines.join('')).to.not.match(/worker threads/);
    });

    it('falls back to the main thread when the workers fail: same bodies, one warning per entity', async () => {
      const original = BodyPool.prototype.prepare;
      BodyPool.prototype.prepare = () => Promise.reject(new Error('body worker stopped (exit code 1)'));
      try {
        const failed = await sync(2);
        expect(await bodies(failed.db)).to.deep.equal(await bodies(dbs[0]));
        const warnings = failed.lines.filter((l) => /body workers unavailable \(body worker stopped \(exit code 1\)\); preparing page bodies on the main thread/.test(l));
        expect(warnings.length).to.equal(7); // one per entity's pass
      } finally {
        BodyPool.prototype.prepare = original;
      }
    });
  });
});
