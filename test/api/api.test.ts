/**
 * The API's edges: auth (401/403, login, lockout 423, expiry, revocation at once), validation (400 naming the
 * parameter and rule, never 500), conditional GET (304), the OpenAPI document (every route in it, every
 * documented route answers), sync control (202 + run rows), entities (404, history), /metrics, no secret in logs.
 */
import { expect } from 'chai';
import { addUser, createApiToken, responseErrors } from '../../api/index.js';
import { runCli } from '../helpers/cli.js';
import { urlFor } from '../helpers/pg.js';
import { apiFixture, landAndTransform, minimalUrl, type ApiFixture } from './fixture.js';
import type { Enqueuer } from '../../api/index.js';

const PASSWORD = 'correct horse battery staple';

describe('api: auth, validation, caching, documentation, control', function () {
  this.timeout(120_000);
  let f: ApiFixture;
  const enqueued: Array<{ kind: string; job: unknown }> = [];
  const enqueue: Enqueuer = {
    async sync(job) {
      enqueued.push({ kind: 'sync', job });
      return insertRun(job.mode, job.entities);
    },
    async replay(job) {
      enqueued.push({ kind: 'replay', job });
      return insertRun('replay', job.entities ?? []);
    },
    async backfill(job) {
      enqueued.push({ kind: 'backfill', job });
      return insertRun('backfill', job.entities);
    },
  };
  async function insertRun(mode: string, entities: string[]): Promise<string> {
    const { rows } = await f.db.pool.query(`INSERT INTO qbsync.sync_runs (run_id, mode, entities, status, requested_by) VALUES (gen_random_uuid(), $1, $2, 'queued', 'api') RETURNING run_id`, [mode, entities]);
    return rows[0].run_id;
  }

  before(async () => {
    f = await apiFixture({ size: 'tiny', enqueue, config: { QBSYNC_AUTH_LOCKOUT_HOURS: '24' } });
    await addUser(f.db.pool, 'ann', PASSWORD);
    await addUser(f.db.pool, 'root', PASSWORD, { admin: true });
  });
  after(() => f?.close());

  it('health needs no token; ready checks the database and migrations', async () => {
    const h = await f.get('/api/health', null);
    expect(h.status).to.equal(200);
    expect(h.body.status).to.equal('ok');
    const r = await f.get('/api/ready', null);
    expect(r.status).to.equal(200);
    expect(r.body).to.include({ status: 'ready', database: 'ok', migrations: 'current' });
  });

  it('/api/v1 needs a bearer token: 401 without, with a malformed or unknown one', async () => {
    for (const token of [null, 'nope', 'qbs_0123456789abcdef_' + 'A'.repeat(43), f.readToken.slice(0, -1) + (f.readToken.endsWith('A') ? 'B' : 'A')]) {
      const r = await f.get('/api/v1/metrics/summary', token);
      expect(r.status, String(token)).to.equal(401);
      expect(r.body.error).to.be.oneOf(['unauthorized', 'invalid_token']);
      expect(r.headers.get('www-authenticate')).to.match(/^Bearer/);
    }
    const r = await f.get('/api/v1/metrics/summary', null, { authorization: 'Basic abc' });
    expect(r.status).to.equal(401);
  });

  it('login: token works, 401 on bad credentials, 423 after 3 failures (even with the right password), expiry honoured', async () => {
    const ok = await f.post('/api/auth/login', { username: 'ann', password: PASSWORD }, null);
    expect(ok.status).to.equal(200);
    expect(ok.body).to.include.keys('access_token', 'expires_at', 'expires_in', 'user');
    expect(ok.body.expires_in).to.equal(3 * 3600);
    expect(responseErrors('login', ok.body)).to.deep.equal([]);
    expect((await f.get('/api/v1/metrics/summary', ok.body.access_token)).status).to.equal(200);
    // Not an admin: sync control refused.
    expect((await f.post('/api/v1/sync', {}, ok.body.access_token)).status).to.equal(403);

    expect((await f.post('/api/auth/login', { username: 'nobody', password: PASSWORD }, null)).status).to.equal(401);
    expect((await f.post('/api/auth/login', { username: 'ann', password: 'wrong-1' }, null)).status).to.equal(401);
    expect((await f.post('/api/auth/login', { username: 'ann', password: 'wrong-2' }, null)).status).to.equal(401);
    const third = await f.post('/api/auth/login', { username: 'ann', password: 'wrong-3' }, null);
    expect(third.status).to.equal(423);
    expect(third.body.error).to.equal('account_locked');
    expect(Date.parse(third.body.locked_until) - Date.now()).to.be.closeTo(24 * 3600_000, 60_000);
    expect(Number(third.headers.get('retry-after'))).to.be.greaterThan(23 * 3600);
    const locked = await f.post('/api/auth/login', { username: 'ann', password: PASSWORD }, null);
    expect(locked.status).to.equal(423);
    // The lock runs out: the right password works again.
    await f.db.pool.query(`UPDATE qbsync.login_failures SET locked_until = now() - interval '1 second', expires_at = now() - interval '1 second' WHERE username_sha256 = qbsync.login_key('ann')`);
    expect((await f.post('/api/auth/login', { username: 'ann', password: PASSWORD }, null)).status).to.equal(200);
    // An expired login token is refused.
    await f.db.pool.query(`UPDATE qbsync.api_tokens SET expires_at = now() - interval '1 second' WHERE token_id = $1`, [ok.body.access_token.split('_')[1]]);
    expect((await f.get('/api/v1/metrics/summary', ok.body.access_token)).status).to.equal(401);
    // Bad bodies: 400, not 500.
    expect((await f.post('/api/auth/login', { username: 'ann' }, null)).status).to.equal(400);
    expect((await f.post('/api/auth/login', '{"username":', null)).status).to.equal(400);
    expect((await f.post('/api/auth/login', { username: 'ann', password: 'x'.repeat(40_000) }, null)).status).to.equal(413);
  });

  it('an API token revoked with the CLI stops working at once; admin needed for sync control', async () => {
    const t = await createApiToken(f.db.pool, { name: 'temp' });
    expect((await f.get('/api/v1/metrics/common/filters', t.token)).status).to.equal(200);
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: urlFor(f.db.name), QBSYNC_LOG_LEVEL: 'error' };
    const listed = await runCli(['token', 'list', '--json'], env);
    expect(listed.code, listed.stderr).to.equal(0);
    expect(listed.stdout).to.include(t.tokenId).and.not.include(t.token);
    const rev = await runCli(['token', 'revoke', t.tokenId], env);
    expect(rev.code, rev.stderr).to.equal(0);
    const after = await f.get('/api/v1/metrics/common/filters', t.token);
    expect(after.status).to.equal(401);
    expect((await f.post('/api/v1/sync', { mode: 'full' }, f.readToken)).status).to.equal(403);
  });

  it('qbsync token create prints the token once; user add reads the password from stdin, never argv', async () => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: urlFor(f.db.name), QBSYNC_LOG_LEVEL: 'error' };
    const created = await runCli(['token', 'create', '--name', 'ci', '--admin'], env);
    expect(created.code, created.stderr).to.equal(0);
    const token = created.stdout.trim();
    expect(token).to.match(/^qbs_[0-9a-f]{16}_/);
    expect((await f.post('/api/v1/sync', { mode: 'incremental' }, token)).status).to.equal(202);
    const noTty = await runCli(['user', 'add', 'bob'], env);
    expect(noTty.code).to.equal(2);
    expect(noTty.stderr).to.match(/--password-stdin/);
    const argv = await runCli(['user', 'add', 'bob', '--password', 'secret123'], env);
    expect(argv.code).to.not.equal(0);
  });

  it('sync, replay and backfill enqueue runs (202 + run_id) that /sync/runs shows', async () => {
    const s = await f.post('/api/v1/sync', { mode: 'full', entities: ['tests', 'samples'] }, f.adminToken);
    expect(s.status, s.text).to.equal(202);
    expect(s.body.run_id).to.match(/^[0-9a-f-]{36}$/);
    expect(s.headers.get('location')).to.equal(`/api/v1/sync/runs/${s.body.run_id}`);
    expect(responseErrors('sync.enqueue', s.body)).to.deep.equal([]);
    const r = await f.post('/api/v1/replay', {}, f.adminToken);
    expect(r.status).to.equal(202);
    const b = await f.post('/api/v1/backfill', { from: '2026-01-01', to: '2026-02-01', entities: ['orders'] }, f.adminToken);
    expect(b.status).to.equal(202);
    expect((await f.post('/api/v1/backfill', { from: '2026-02-01', to: '2026-01-01' }, f.adminToken)).status).to.equal(400);
    expect((await f.post('/api/v1/sync', { mode: 'sometimes' }, f.adminToken)).status).to.equal(400);
    expect((await f.post('/api/v1/sync', { entities: ['users'] }, f.adminToken)).status).to.equal(400);
    expect(enqueued.map((e) => e.kind)).to.include.members(['sync', 'replay', 'backfill']);
    const runs = await f.get('/api/v1/sync/runs?limit=50');
    expect(runs.status).to.equal(200);
    expect(runs.body.runs.map((x: any) => x.run_id)).to.include(s.body.run_id);
    const one = await f.get(`/api/v1/sync/runs/${s.body.run_id}`);
    expect(one.status).to.equal(200);
    expect(one.body.status).to.equal('queued');
    expect(responseErrors('sync.run', one.body)).to.deep.equal([]);
    expect((await f.get('/api/v1/sync/runs/00000000-0000-0000-0000-000000000000')).status).to.equal(404);
    expect((await f.get('/api/v1/sync/runs?status=queued&mode=full')).body.runs.every((x: any) => x.status === 'queued' && x.mode === 'full')).to.equal(true);
  });

  it('bad inputs answer 400 naming the parameter and the rule, never 500', async () => {
    const cases: Array<[string, string, string]> = [
      ['/api/v1/metrics/summary?customer_id=abc', 'customer_id', 'type'],
      ['/api/v1/metrics/summary?customer_id=1%3B%20DROP%20TABLE%20qbench.tests', 'customer_id', 'type'],
      ["/api/v1/metrics/summary?state=REPORTED'%20OR%201%3D1--", 'state', 'pattern'],
      ['/api/v1/metrics/summary?date_from=2026-13-45', 'date_from', 'format'],
      ['/api/v1/metrics/summary?date_from=yesterday', 'date_from', 'pattern'],
      ['/api/v1/metrics/summary?date_from=2026-03-01&date_to=2026-02-01', 'date_to', 'range'],
      ['/api/v1/metrics/summary?sla_hours=-5', 'sla_hours', 'exclusiveMinimum'],
      ['/api/v1/metrics/summary?unknown=1', 'unknown', 'additionalProperties'],
      ['/api/v1/metrics/summary?customer_id=1&customer_id=2', 'customer_id', 'type'],
      ['/api/v1/metrics/customers/new?limit=100000000', 'limit', 'maximum'],
      ['/api/v1/metrics/customers/new?limit=0', 'limit', 'minimum'],
      ['/api/v1/metrics/tests/tat?group_by=month', 'group_by', 'enum'],
      ['/api/v1/metrics/tests/tat-daily?moving_average_window=1.5', 'moving_average_window', 'type'],
      ['/api/v1/metrics/activity/daily?compare_previous=maybe', 'compare_previous', 'type'],
      ['/api/v1/metrics/sync/status?entity=users', 'entity', 'enum'],
      ['/api/v1/entities/orders/..%2F..%2Fetc%2Fpasswd', 'id', 'type'],
      ['/api/v1/entities/tests/-1', 'id', 'minimum'],
      ['/api/v1/entities/tests/99999999999999999999', 'id', 'maximum'],
      ['/api/v1/entities/users/1/history', 'kind', 'enum'],
      ['/api/v1/analytics/orders/slowest?limit=101', 'limit', 'maximum'],
      ['/api/v1/sync/runs/not-a-uuid', 'id', 'format'],
    ];
    for (const [path, param, rule] of cases) {
      const r = await f.get(path);
      expect(r.status, `${path}: ${r.text}`).to.equal(400);
      expect(r.body.error).to.equal('invalid_request');
      expect(r.body.details.some((d: any) => d.parameter === param && d.rule === rule), `${path}: ${r.text}`).to.equal(true);
    }
    // A bare path traversal never reaches a handler with a usable id either.
    const t = await f.get('/api/v1/entities/orders/../../../etc/passwd');
    expect(t.status).to.be.oneOf([400, 404]);
    expect(t.body.error).to.be.a('string');
  });

  it('ETag / Last-Modified: an unchanged warehouse answers 304; new data changes the ETag', async () => {
    const path = '/api/v1/metrics/summary?date_from=2026-01-01&date_to=2026-06-30';
    const a = await f.get(path);
    const etag = a.headers.get('etag')!;
    expect(etag).to.match(/^W\/"/);
    expect(a.headers.get('last-modified')).to.be.a('string');
    const b = await f.get(path, undefined, { 'if-none-match': etag });
    expect(b.status).to.equal(304);
    expect(b.text).to.equal('');
    expect((await f.get(path, undefined, { 'if-none-match': `"other", ${etag}` })).status).to.equal(304);
    expect((await f.get(path, undefined, { 'if-modified-since': a.headers.get('last-modified')! })).status).to.equal(304);
    // A different query is a different resource.
    expect((await f.get(path + '&sla_hours=24', undefined, { 'if-none-match': etag })).status).to.equal(200);
    // 304 needs a valid token too.
    expect((await f.get(path, null, { 'if-none-match': etag })).status).to.equal(401);
    // New data landed and transformed: the version moves.
    f.sim!.advance(48);
    await landAndTransform(f.db, f.sim!, f.config, 'incremental');
    const c = await f.get(path, undefined, { 'if-none-match': etag });
    expect(c.status).to.equal(200);
    expect(c.headers.get('etag')).to.not.equal(etag);
  });

  it('routes whose answers age with the clock (overdue orders, sla views) change their ETag every minute and send no Last-Modified', async () => {
    for (const path of ['/api/v1/analytics/orders/overdue', '/api/v1/entities/orders/1']) {
      const a = await f.get(path);
      expect(a.status, path).to.be.oneOf([200, 404]);
      const etag = a.headers.get('etag')!;
      expect(etag, path).to.match(/^W\//);
      expect(a.headers.get('last-modified'), path).to.equal(null);
      // Within the same minute the same data gives the same answer: 304 (unless the minute turned just now).
      const before = Math.floor(Date.now() / 60_000);
      const b = await f.get(path, undefined, { 'if-none-match': etag });
      if (Math.floor(Date.now() / 60_000) === before) expect(b.status, path).to.equal(304);
      // A minute later the same data no longer matches: the ages moved.
      const realNow = Date.now;
      Date.now = () => realNow() + 61_000;
      try {
        const c = await f.get(path, undefined, { 'if-none-match': etag });
        expect(c.status, path).to.be.oneOf([200, 404]);
        expect(c.headers.get('etag'), path).to.not.equal(etag);
      } finally {
        Date.now = realNow;
      }
    }
  });

  it('the OpenAPI document lists every route, every documented operation answers (no 5xx, no 404 route), responses match their schemas', async () => {
    const doc = (await f.get('/api/openapi.json', null)).body;
    expect(doc.openapi).to.equal('3.1.0');
    const routes = (f.server.server.listeners('request')[0] as any).locals.routes as Array<{ method: string; path: string }>;
    const documented = Object.entries(doc.paths).flatMap(([p, ops]: [string, any]) => Object.keys(ops).map((m) => `${m} ${p}`));
    expect(documented.sort()).to.deep.equal(routes.map((r) => `${r.method} ${r.path}`).sort());
    for (const [p, ops] of Object.entries(doc.paths) as Array<[string, any]>) {
      for (const [method, op] of Object.entries(ops) as Array<[string, any]>) {
        const url = minimalUrl(p);
        const r = method === 'get' ? await f.get(url, f.adminToken) : await f.post(url, method === 'post' && url.endsWith('backfill') ? { from: '2026-01-01', to: '2026-01-02' } : p === '/api/auth/login' ? { username: 'root', password: PASSWORD } : {}, f.adminToken);
        expect(r.status, `${method} ${url}: ${r.text.slice(0, 200)}`).to.be.below(500);
        expect(r.body?.error, `${method} ${url}`).to.not.equal('not_found_route');
        if (r.status < 300 && op.responses[String(r.status)]?.content?.['application/json']) {
          expect(responseErrors(op.operationId, r.body), `${op.operationId}`).to.deep.equal([]);
        }
        expect([200, 202, 404].includes(r.status), `${method} ${url} -> ${r.status}`).to.equal(true);
      }
    }
    const ui = await f.get('/api/docs/', null);
    expect(ui.status).to.equal(200);
    expect(ui.text).to.match(/swagger/i);
  });

  it('entities: records with relatives, 404 JSON when missing, raw history with changes between versions', async () => {
    const o = await f.get('/api/v1/entities/orders/1?include_tests=true');
    expect(o.status).to.equal(200);
    expect(o.body.order.id).to.equal(1);
    expect(o.body.samples.length).to.be.greaterThan(0);
    expect(o.body.samples[0].tests).to.be.an('array');
    const missing = await f.get('/api/v1/entities/orders/987654321');
    expect(missing.status).to.equal(404);
    expect(missing.body).to.deep.include({ error: 'not_found' });
    const testId = o.body.samples[0].tests[0].id;
    const full = await f.get(`/api/v1/entities/tests/${testId}/full`);
    expect(full.status).to.equal(200);
    expect(full.body.sample.id).to.equal(o.body.samples[0].id);
    expect(full.body.order.id).to.equal(1);
    expect(full.body.test.sla.status).to.be.a('string');
    const c = await f.get(`/api/v1/entities/customers/${o.body.order.customer_id}`);
    expect(c.status).to.equal(200);
    expect(c.body.stats.orders).to.be.greaterThan(0);
    // The ETag test advanced the simulator and synced again: some test changed between versions.
    const { rows } = await f.db.pool.query(`SELECT id FROM qbench.tests WHERE source_fetch_id > (SELECT min(id) FROM raw.fetches WHERE run_id <> (SELECT run_id FROM raw.fetches ORDER BY id LIMIT 1)) LIMIT 1`);
    const changed = rows[0]?.id ?? testId;
    const h = await f.get(`/api/v1/entities/tests/${changed}/history`);
    expect(h.status, h.text).to.equal(200);
    expect(h.body.events.length).to.be.greaterThan(0);
    expect(h.body.events[0].changes).to.equal(null);
    for (const e of h.body.events.slice(1)) if (e.changed) expect(e.changes.length).to.be.greaterThan(0);
    expect(responseErrors('entities.history', h.body)).to.deep.equal([]);
    expect((await f.get('/api/v1/entities/tests/987654321/history')).status).to.equal(404);
  });

  it('/metrics is Prometheus text with route latency, run counters and last sync per entity', async () => {
    const r = await f.get('/metrics', null);
    expect(r.status).to.equal(200);
    expect(r.headers.get('content-type')).to.match(/text\/plain/);
    expect(r.text).to.match(/qbsync_http_request_duration_seconds_bucket\{[^}]*route="\/api\/v1\/metrics\/summary"/);
    expect(r.text).to.match(/qbsync_qbench_requests_total \d+/);
    expect(r.text).to.match(/qbsync_qbench_rate_limited_total \d+/);
    expect(r.text).to.match(/qbsync_sync_runs_total\{mode="full",status="succeeded"\} \d+/);
    expect(r.text).to.match(/qbsync_last_successful_sync_timestamp_seconds\{entity="tests"\} \d+/);
    expect(r.text).to.match(/qbsync_transform_watermark_fetch_id\{target="tests"\} \d+/);
  });

  it('security headers, no CORS unless configured, and no token, password or secret in any log line', async () => {
    const r = await f.get('/api/health', null, { origin: 'https://evil.example' });
    expect(r.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(r.headers.get('x-frame-options')).to.equal('DENY');
    expect(r.headers.get('content-security-policy')).to.match(/default-src 'none'/);
    expect(r.headers.get('x-powered-by')).to.equal(null);
    expect(r.headers.get('access-control-allow-origin')).to.equal(null);
    const all = f.lines.join('\n');
    expect(f.lines.length).to.be.greaterThan(20);
    for (const secret of [f.adminToken, f.readToken, PASSWORD, f.readToken.split('_').slice(2).join('_')]) expect(all).to.not.include(secret);
    expect(all).to.not.match(/qb[sl]_[0-9a-f]{16}_[A-Za-z0-9_-]{10,}/);
    expect(all).to.not.match(/Bearer [A-Za-z0-9]/);
  });
});
