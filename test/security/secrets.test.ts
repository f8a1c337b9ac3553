/**
 * Secrets and credentials end to end: a sync (CLI, and in-process with a debug logger), the API and the CLI,
 * with everything captured (test/helpers/secret-sweep.ts: CLI output, every log line, API answers, raw rows,
 * the stored tables, a backup file) and searched for every secret: the QBench client secret (and a wrong one),
 * the database password (and a wrong one), API and login tokens, user passwords.
 *
 * Also: tokens and passwords are hashed at rest, revocation / password change / removal / losing admin take
 * effect on the next request, and every mutation (every route that is not a GET, enumerated from allRoutes())
 * refuses a non-admin token with 403.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import zlib from 'node:zlib';
import { expect } from 'chai';
import { createLogger } from '../../core/index.js';
import { allRoutes, createApiToken, startApiServer, type ApiServer } from '../../api/index.js';
import { makeClient, runSync, MemoryRateBudget } from '../../ingest/index.js';
import { runTransforms } from '../../transform/index.js';
import type { Simulator } from '../../sim/index.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { cliEnv, testSimulator, TEST_CLIENT_SECRET } from '../helpers/sim.js';
import {
  captureText, dismissFindings, formatFindings, registerTestSecret, secretFindings, sweepStats, urlPassword,
} from '../helpers/secret-sweep.js';
import { ALL, minimalUrl, testConfig } from '../api/fixture.js';
import { pool, recordingEnqueuer, request } from './lib.js';

describe('security: no secret anywhere; tokens, revocation and admin-only mutations', function () {
  this.timeout(180_000);
  let db: TestDatabase;
  let sim: Simulator;
  let server: ApiServer;
  let env: NodeJS.ProcessEnv;
  let tmp: string;
  const { enqueuer: enqueue, enqueued } = recordingEnqueuer();
  const secret = (label: string) => {
    const v = `${label.replace(/\W+/g, '-')}-${crypto.randomBytes(12).toString('base64url')}`;
    registerTestSecret(v, label);
    return v;
  };
  const adminPassword = secret('admin password');
  const userPassword = secret('user password');
  const newPassword = secret('changed password');
  const tokens: Record<string, string> = {};

  /** An API call whose answer is captured (a login answer issues its token there). */
  async function api(method: string, p: string, token?: string, body?: unknown) {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await request(server.url, method, p, headers, body === undefined ? undefined : JSON.stringify(body));
    let json: any;
    try {
      json = JSON.parse(r.text);
    } catch {
      json = undefined;
    }
    const issued = typeof json?.access_token === 'string' ? [json.access_token as string] : [];
    captureText(`API answer to ${method} ${p.slice(0, 100)}`, r.text, { issues: issued });
    captureText(`API headers of ${method} ${p.slice(0, 100)}`, JSON.stringify(r.headers));
    return { status: r.status, body: json, text: r.text };
  }

  before(async () => {
    db = await createTestDatabase();
    registerTestSecret(urlPassword(db.url), 'the test database password');
    sim = await testSimulator({ size: 'tiny', seed: 11 });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qbsync-secrets-'));
    env = cliEnv(db.url, sim, { QBSYNC_LOG_LEVEL: 'debug', QBSYNC_DATA_DIR: path.join(tmp, 'data'), HOME: tmp });
    const stream = new PassThrough();
    stream.resume(); // lines reach the sweep through its tee of winston's Stream transport
    const logger = createLogger({ level: 'debug', console: false, stream });
    server = await startApiServer({ db, config: testConfig(), logger, enqueue }, { host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await server?.stop(1000);
    await sim?.close();
    await db?.drop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a sync through the CLI and in process (debug logs), and failing ones, print no secret', async () => {
    const cli = await runCli(['sync', '--full', '--entity', 'customers,orders,samples'], env);
    expect(cli.code, cli.stderr.slice(-2000)).to.equal(0);
    expect(cli.stderr).to.match(/"level":"debug"/); // the debug lines are there to be searched
    // In process, every entity, with a debug logger (its lines are captured through the tee).
    const stream = new PassThrough();
    stream.resume();
    const logger = createLogger({ level: 'debug', console: false, stream });
    const config = testConfig();
    await runSync(
      { db, logger, makeClient: (onEvent) => makeClient(config, { baseUrl: sim.url, logger, onEvent, rateBudget: new MemoryRateBudget({ limit: 1e6, windowMs: 1000 }) }) },
      { mode: 'incremental', entities: ALL },
    );
    await runTransforms(db, { logger, timezone: config.timezone });
    // A wrong client secret and a wrong database password: failures whose messages must not carry them.
    const wrongSecret = await runCli(['sync', '--entity', 'customers'], { ...env, QBENCH_CLIENT_SECRET: secret('wrong client secret') });
    expect(wrongSecret.code).to.equal(1);
    const u = new URL(db.url);
    u.password = secret('wrong database password');
    const wrongDb = await runCli(['status'], { ...env, DATABASE_URL: u.toString() });
    expect(wrongDb.code).to.equal(1);
    expect(wrongDb.stderr).to.match(/qbsync: /);
  });

  it('the CLI: users, tokens, config, status, raw stats, reports, backup; passwords only through stdin', async () => {
    const add = await runCli(['user', 'add', 'sec-admin', '--admin', '--password-stdin'], env, { input: adminPassword });
    expect(add.code, add.stderr).to.equal(0);
    expect((await runCli(['user', 'add', 'sec-user', '--password-stdin'], env, { input: `${userPassword}\n` })).code).to.equal(0);
    const created = await runCli(['token', 'create', '--name', 'sec-admin-token', '--admin'], env);
    expect(created.code, created.stderr).to.equal(0);
    tokens.cliAdmin = created.stdout.trim();
    const read = await runCli(['token', 'create', '--name', 'sec-read-token'], env);
    tokens.cliRead = read.stdout.trim();
    expect(tokens.cliRead).to.match(/^qbs_[0-9a-f]{16}_/);
    const file = path.join(tmp, 'sec.qbk');
    expect((await runCli(['backup', '--out', file], env)).code).to.equal(0);
    // Three at a time: a CLI start is about a second of CPU.
    await pool([
      ['token', 'list', '--all', '--json'], ['token', 'list'], ['user', 'list', '--json'], ['config'], ['config', '--json'], ['status', '--json'],
      ['raw', 'stats', '--json'], ['report', 'drift', '--json'], ['report', 'orphans'], ['list-entities'], ['migrate', '--status'],
      ['restore', '--in', file, '--check', '--json'], ['doctor', '--json'],
    ], 3, async (args) => {
      const r = await runCli(args, env);
      expect(r.code, `${args.join(' ')}: ${r.stderr.slice(-500)}`).to.be.oneOf(args[0] === 'doctor' ? [0, 1] : [0]);
    });
    // The backup file holds hashes, never a token or a password.
    captureText('the backup file (gunzipped)', zlib.gunzipSync(fs.readFileSync(file)).toString('latin1'));
  });

  it('tokens and passwords are hashed at rest', async () => {
    const direct = await createApiToken(db.pool, { name: 'sec-direct' });
    registerTestSecret(direct.token, 'a token created in process');
    const { rows } = await db.pool.query<{ token_id: string; row: string; sha: Buffer }>(
      `SELECT token_id, to_jsonb(t)::text AS row, secret_sha256 AS sha FROM qbsync.api_tokens t`,
    );
    for (const t of [tokens.cliAdmin, tokens.cliRead, direct.token]) {
      const [, id, secretPart] = /^qb[sl]_([0-9a-f]{16})_(.+)$/.exec(t)!;
      const row = rows.find((r) => r.token_id === id);
      expect(row, id).to.not.equal(undefined);
      expect(row!.row).to.not.include(secretPart);
      expect(row!.sha.equals(crypto.createHash('sha256').update(secretPart).digest())).to.equal(true);
    }
    const users = await db.pool.query<{ username: string; password_hash: string }>(`SELECT username, password_hash FROM qbsync.api_users`);
    expect(users.rows.map((u) => u.username).sort()).to.deep.equal(['sec-admin', 'sec-user']);
    for (const u of users.rows) {
      expect(u.password_hash).to.match(/^scrypt\$/);
      expect(u.password_hash).to.not.include(adminPassword).and.not.include(userPassword);
    }
  });

  it('the API: logins, every GET route, errors with tokens and passwords in the wrong places', async () => {
    const login = await api('POST', '/api/auth/login', undefined, { username: 'sec-admin', password: adminPassword });
    expect(login.status, login.text).to.equal(200);
    tokens.loginAdmin = login.body.access_token;
    const userLogin = await api('POST', '/api/auth/login', undefined, { username: 'sec-user', password: userPassword });
    expect(userLogin.status).to.equal(200);
    tokens.loginUser = userLogin.body.access_token;
    expect((await api('POST', '/api/auth/login', undefined, { username: 'sec-user', password: adminPassword })).status).to.equal(401);
    expect((await api('POST', '/api/auth/login', undefined, { username: adminPassword, password: userPassword })).status).to.equal(401);

    for (const route of allRoutes().filter((r) => r.method === 'get')) {
      const p = minimalUrl(route.path);
      const r = await api('GET', p, tokens.cliRead);
      expect(r.status, `${p}: ${r.text.slice(0, 200)}`).to.be.oneOf([200, 404]);
    }
    expect((await api('GET', '/api/openapi.json')).status).to.equal(200);
    expect((await api('GET', '/api/docs/')).status).to.equal(200);
    // Tokens and passwords where they do not belong: refused, never echoed, never logged.
    for (const t of [tokens.cliAdmin, tokens.loginAdmin]) {
      expect((await api('GET', `/api/v1/metrics/summary?access_token=${t}`, tokens.cliRead)).status).to.equal(400);
      expect((await api('GET', `/api/v1/entities/orders/${t}`, tokens.cliRead)).status).to.equal(400);
      expect((await api('GET', `/api/v1/no-such-route/${t}`, tokens.cliRead)).status).to.equal(404);
      expect((await api('GET', `/api/v1/entities/${t}/1/history`, tokens.cliRead)).status).to.equal(400);
      expect((await api('POST', '/api/v1/sync', tokens.cliAdmin, { token: t })).status).to.equal(400);
    }
    expect((await api('GET', '/api/v1/metrics/summary', adminPassword)).status).to.equal(401);
    expect((await api('GET', `/api/v1/metrics/summary?password=${encodeURIComponent(userPassword)}`, tokens.cliRead)).status).to.equal(400);
    expect((await api('GET', '/metrics')).status).to.equal(200);
  });

  it('every mutation (each route that is not a GET) is admin-only: 403 for read tokens, accepted for admins', async () => {
    const mutations = allRoutes().filter((r) => r.method !== 'get');
    expect(mutations.length).to.be.at.least(4);
    for (const route of mutations) {
      if (route.access === 'public') {
        // Only logging in may be public among the mutations.
        expect(route.operationId, `${route.method} ${route.path} is public`).to.equal('login');
        continue;
      }
      expect(route.access, `${route.method} ${route.path}`).to.equal('admin');
      const body = route.path.endsWith('/backfill') ? { from: '2026-01-01', to: '2026-02-01' } : {};
      for (const t of [tokens.cliRead, tokens.loginUser]) {
        const n = enqueued.length;
        const r = await api(route.method.toUpperCase(), route.path, t, body);
        expect(r.status, `${route.method} ${route.path} with a read token: ${r.text}`).to.equal(403);
        expect(r.body.error).to.equal('forbidden');
        expect(enqueued.length).to.equal(n);
      }
      for (const t of [tokens.cliAdmin, tokens.loginAdmin]) {
        const r = await api(route.method.toUpperCase(), route.path, t, body);
        expect(r.status, `${route.method} ${route.path} with an admin token: ${r.text}`).to.equal(route.successStatus ?? 200);
      }
    }
  });

  it('revocation, a password change, losing admin and removal take effect on the next request', async () => {
    const summary = '/api/v1/metrics/common/filters';
    expect((await api('GET', summary, tokens.cliRead)).status).to.equal(200);
    const id = tokens.cliRead.split('_')[1];
    expect((await runCli(['token', 'revoke', id], env)).code).to.equal(0);
    expect((await api('GET', summary, tokens.cliRead)).status).to.equal(401);

    expect((await api('POST', '/api/v1/replay', tokens.loginAdmin, {})).status).to.equal(202);
    expect((await runCli(['user', 'admin', 'sec-admin', 'off'], env)).code).to.equal(0);
    expect((await api('POST', '/api/v1/replay', tokens.loginAdmin, {})).status).to.equal(403);
    expect((await api('GET', summary, tokens.loginAdmin)).status).to.equal(200);

    expect((await api('GET', summary, tokens.loginUser)).status).to.equal(200);
    expect((await runCli(['user', 'passwd', 'sec-user', '--password-stdin'], env, { input: newPassword })).code).to.equal(0);
    expect((await api('GET', summary, tokens.loginUser)).status).to.equal(401);
    expect((await api('POST', '/api/auth/login', undefined, { username: 'sec-user', password: userPassword })).status).to.equal(401);
    const again = await api('POST', '/api/auth/login', undefined, { username: 'sec-user', password: newPassword });
    expect(again.status).to.equal(200);

    expect((await runCli(['user', 'remove', 'sec-admin'], env)).code).to.equal(0);
    expect((await api('GET', summary, tokens.loginAdmin)).status).to.equal(401);
  });

  it('the sweep finds a planted secret (self-test)', () => {
    const planted = secret('planted secret');
    captureText('sweep self-test', `a line that carries ${planted} by mistake`);
    captureText('sweep self-test', `a token: qbs_0123456789abcdef_${'A'.repeat(43)}`);
    const found = secretFindings((p) => p === 'sweep self-test');
    dismissFindings((p) => p === 'sweep self-test');
    expect(found.map((f) => f.secret).sort()).to.deep.equal(['a qbsync bearer token', 'planted secret']);
    expect(found[0].excerpt).to.not.include(planted);
  });

  it('nothing captured carries a secret: CLI output, log lines, API answers, raw rows, stored tables, the backup', async () => {
    // raw rows and every stored table (queued jobs included), as text.
    const params = await db.pool.query<{ t: string }>(`SELECT string_agg(params::text, E'\\n') AS t FROM raw.fetches`);
    captureText('raw.fetches.params', params.rows[0].t ?? '');
    const bodies = await db.pool.query<{ t: string }>(`SELECT string_agg(body::text, E'\\n') AS t FROM raw.page_bodies`);
    captureText('raw.page_bodies.body', bodies.rows[0].t ?? '');
    const tables = await db.pool.query<{ s: string; t: string }>(
      `SELECT n.nspname AS s, c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('raw', 'qbsync', 'qbench', 'pgboss') ORDER BY 1, 2`,
    );
    for (const { s, t } of tables.rows) {
      const { rows } = await db.pool.query<{ j: string | null }>(`SELECT string_agg(to_jsonb(r)::text, E'\\n') AS j FROM "${s}"."${t}" r`);
      captureText(`table ${s}.${t}`, rows[0].j ?? '');
    }
    expect(Number((await db.pool.query(`SELECT count(*) AS n FROM raw.fetches`)).rows[0].n)).to.be.greaterThan(10);
    const stats = sweepStats();
    const found = secretFindings();
    console.log(`      secret sweep: ${stats.captures} captures, ${(stats.chars / 1e6).toFixed(1)} M characters, ${stats.secrets} secrets (client secret ${TEST_CLIENT_SECRET.length} chars, database password, tokens, passwords)`);
    expect(found, `secrets found:\n${formatFindings(found)}`).to.deep.equal([]);
    expect(stats.secrets).to.be.at.least(10);
  });
});
