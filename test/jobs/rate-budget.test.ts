import { expect } from 'chai';
import { connect, type Database } from '../../core/index.js';
import { PgRateBudget } from '../../ingest/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { maxInWindow } from '../helpers/jobs.js';

describe('PgRateBudget (shared through Postgres)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let other: Database;
  before(async () => {
    db = await createTestDatabase();
    other = await connect(db.url, undefined, { migrate: false, poolMax: 6 });
  });
  after(async () => {
    await other?.close();
    await db?.drop();
  });

  it('N concurrent acquirers on two pools never exceed the limit in any window, and are not throttled below it', async () => {
    const limit = 8;
    const windowMs = 1500;
    // Two "processes": separate pools, separate budget objects, one budget name.
    const budgets = [new PgRateBudget(db.pool, { limit, windowMs, key: 't1' }), new PgRateBudget(other.pool, { limit, windowMs, key: 't1' })];
    const grants: number[] = [];
    const perAcquirer = 3;
    const acquirers = 10; // 30 grants at 8 per 1.5 s: at least 3 windows
    const started = Date.now();
    await Promise.all(
      Array.from({ length: acquirers }, async (_, i) => {
        for (let k = 0; k < perAcquirer; k++) {
          await budgets[i % 2].acquire();
          grants.push(Date.now());
        }
      }),
    );
    const elapsed = Date.now() - started;
    const worst = maxInWindow(grants, windowMs);
    expect(grants).to.have.length(acquirers * perAcquirer);
    expect(worst.max, `grants inside one ${windowMs} ms window`).to.be.at.most(limit);
    expect(elapsed, 'the budget actually paced the grants').to.be.at.least(3 * windowMs);
    // 30 grants at 8 per window need 4 windows; a busy 2-core machine adds database latency, not windows.
    expect(elapsed, 'and did not starve them').to.be.below(6 * (windowMs + 75) + 5000);
  });

  it('separate budget names do not share slots; an aborted wait rejects', async () => {
    const a = new PgRateBudget(db.pool, { limit: 2, windowMs: 60_000, key: 'a' });
    const b = new PgRateBudget(other.pool, { limit: 2, windowMs: 60_000, key: 'b' });
    await a.acquire();
    await a.acquire();
    await b.acquire(); // not blocked by a's slots
    const ctl = new AbortController();
    const waiting = a.acquire(ctl.signal);
    setTimeout(() => ctl.abort(new Error('stop waiting')), 100);
    let err: unknown;
    try {
      await waiting;
    } catch (e) {
      err = e;
    }
    expect((err as Error)?.message).to.equal('stop waiting');
  });
});
