/**
 * Security review finding: POST /api/auth/login locked an existing account after QBSYNC_AUTH_MAX_FAILED_LOGINS
 * failures (423) while an unknown username answered 401 forever, so the status sequence told which usernames
 * exist. Unknown usernames are now counted and locked exactly as existing ones, the state kept in Postgres under a
 * hash of the name (qbsync.login_failures), expiring with the lockout window, purged by later failures.
 */
import { expect } from 'chai';
import { addUser, unlockUser } from '../../api/index.js';
import { apiFixture, type ApiFixture } from '../api/fixture.js';

const PASSWORD = 'correct horse battery staple';

describe('security: login failures of unknown usernames are counted and locked like existing ones', function () {
  this.timeout(120_000);
  let f: ApiFixture;

  before(async () => {
    f = await apiFixture({ data: false });
    await addUser(f.db.pool, 'ann', PASSWORD);
  });
  after(() => f?.close());

  const attempt = async (username: string, password = 'wrong-password') => {
    const r = await f.post('/api/auth/login', { username, password }, null);
    return {
      status: r.status,
      body: r.body,
      shape: Object.keys(r.body ?? {}).sort().join(','),
      retryAfter: r.headers.get('retry-after'),
      headers: [...r.headers.keys()].filter((h) => !['date', 'content-length', 'retry-after', 'etag'].includes(h)).sort().join(','),
    };
  };
  const sequence = async (username: string, n: number) => {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await attempt(username));
    return out;
  };

  it('the same number of failures gives the same statuses, bodies and headers for an existing and an unknown username', async () => {
    const known = await sequence('ann', 5);
    const unknown = await sequence('nobody-here', 5);
    expect(known.map((x) => x.status)).to.deep.equal([401, 401, 423, 423, 423]);
    expect(unknown.map((x) => x.status)).to.deep.equal(known.map((x) => x.status));
    expect(unknown.map((x) => x.shape)).to.deep.equal(known.map((x) => x.shape));
    expect(unknown.map((x) => x.headers)).to.deep.equal(known.map((x) => x.headers));
    for (let i = 0; i < known.length; i++) {
      expect(unknown[i].body.error).to.equal(known[i].body.error);
      expect(unknown[i].body.message).to.equal(known[i].body.message);
      expect(Boolean(unknown[i].retryAfter)).to.equal(Boolean(known[i].retryAfter));
      if (known[i].status === 423) {
        expect(Math.abs(Number(unknown[i].retryAfter) - Number(known[i].retryAfter))).to.be.below(120);
        expect(Math.abs(Date.parse(unknown[i].body.locked_until) - Date.parse(known[i].body.locked_until))).to.be.below(120_000);
      }
    }
    // The right password does not open a locked account; case does not matter (one username, one lock).
    expect((await attempt('ann', PASSWORD)).status).to.equal(423);
    expect((await attempt('ANN')).status).to.equal(423);
    expect((await attempt('NOBODY-HERE')).status).to.equal(423);
  });

  it('the state is in Postgres under a hash of the name (never the name), expires with the lockout window and is purged', async () => {
    const { rows } = await f.db.pool.query<{ row: string }>(`SELECT to_jsonb(f)::text AS row FROM qbsync.login_failures f`);
    expect(rows.length).to.be.at.least(2);
    for (const r of rows) expect(r.row.toLowerCase()).to.not.include('nobody').and.not.include('ann');
    const key = await f.db.pool.query(`SELECT 1 FROM qbsync.login_failures WHERE username_sha256 = qbsync.login_key('Nobody-Here') AND locked_until > now()`);
    expect(key.rowCount).to.equal(1);

    // The lock runs out: both names count from zero again, identically.
    await f.db.pool.query(`UPDATE qbsync.login_failures SET locked_until = now() - interval '1 second', expires_at = now() - interval '1 second'`);
    expect((await sequence('ann', 3)).map((x) => x.status)).to.deep.equal([401, 401, 423]);
    expect((await sequence('nobody-here', 3)).map((x) => x.status)).to.deep.equal([401, 401, 423]);

    // Failures older than the lockout window no longer count (for both).
    await f.db.pool.query(`DELETE FROM qbsync.login_failures`);
    await sequence('ann', 2);
    await sequence('nobody-here', 2);
    await f.db.pool.query(`UPDATE qbsync.login_failures SET expires_at = now() - interval '1 second'`);
    // A failure of a third name purges the expired rows of the others.
    expect((await attempt('someone-else')).status).to.equal(401);
    const left = await f.db.pool.query(`SELECT count(*)::int AS n FROM qbsync.login_failures WHERE expires_at < now()`);
    expect(left.rows[0].n).to.equal(0);
    expect((await attempt('ann')).status).to.equal(401);
    expect((await attempt('nobody-here')).status).to.equal(401);
  });

  it('concurrent failures lock at the limit and never unlock a locked name', async () => {
    await f.db.pool.query(`DELETE FROM qbsync.login_failures`);
    for (const name of ['ann', 'ghost']) {
      const statuses = (await Promise.all(Array.from({ length: 8 }, () => attempt(name)))).map((x) => x.status).sort();
      expect(statuses.filter((s) => s === 401).length, `${name}: ${statuses}`).to.equal(2);
      expect((await attempt(name)).status).to.equal(423);
    }
  });

  it('qbsync user unlock (unlockUser) and a successful login clear the count of an existing user', async () => {
    await unlockUser(f.db.pool, 'ANN');
    expect((await attempt('ann')).status).to.equal(401);
    expect((await attempt('ann', PASSWORD)).status).to.equal(200);
    expect((await attempt('ann')).status).to.equal(401);
    expect((await attempt('ann')).status).to.equal(401); // the success reset the count: 2 failures, not 3
    expect((await attempt('ghost')).status).to.equal(423);
  });
});
