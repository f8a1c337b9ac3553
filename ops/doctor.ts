/**
 * `qbsync doctor`: one verdict per check (ok / warn / fail, with what to do), in order:
 *   configuration  validates; lists the values that differ from the defaults (secrets masked)
 *   database       reachable, server version, migrations current
 *   qbench         a token request and one tiny list request (or: the built-in simulator is used)
 *   clock          skew against QBench's `Date` header (warn beyond 30 s) and against the database's clock
 *   rate budget    the configured budget against QBench's 300 per 60 s; 429s in the last 24 h of run history
 *   sync           stale watermarks, stuck queued or silent running runs
 *   alerts         where alerts go
 * Nothing is changed: no migration is applied, nothing is landed.
 */
import { configDocs, errorMessage, pendingMigrations, type Config, type Database, type Logger } from '../core/index.js';
import { QBenchClient, MemoryRateBudget, PgRateBudget, type RateBudget } from '../ingest/index.js';
import { QBenchAuthError, QBenchHttpError, QBenchTransientError, TokenProvider } from '../ingest/client/index.js';
import { webhookHost } from './alerts.js';

export type Verdict = 'ok' | 'warn' | 'fail';

export interface Check {
  name: string;
  verdict: Verdict;
  /** One line: what was found. */
  summary: string;
  /** What to do about it (warn and fail). */
  action?: string;
  details?: Record<string, unknown>;
}

export interface DoctorReport {
  ok: boolean;
  checks: Check[];
  counts: Record<Verdict, number>;
}

export interface QBenchTarget {
  baseUrl: string;
  simulated: boolean;
}

export interface DoctorDeps {
  /** Undefined when the configuration is invalid (then `configProblems` says why). */
  config?: Config;
  configProblems?: string[];
  /** The environment the configuration was read from (process.env over .env). */
  env: Record<string, string | undefined>;
  logger?: Logger;
  openDb: () => Promise<Database>;
  qbench: () => Promise<QBenchTarget>;
  fetch?: typeof fetch;
  /** Skew beyond which the clock check warns (default 30 000 ms). */
  maxSkewMs?: number;
  now?: () => number;
}

/** QBench's documented limit (qbench-api.md §5). */
export const QBENCH_LIMIT = 300;
export const QBENCH_WINDOW_SECONDS = 60;
const SECRET_NAME = /SECRET|PASSWORD|TOKEN/;

/** Shows a configuration value without its secret parts. */
export function maskValue(name: string, value: string): string {
  if (SECRET_NAME.test(name) && name !== 'QBENCH_TOKEN_URL') return '***';
  if (name === 'DATABASE_URL') return value.replace(/\/\/([^:@/]+):[^@]*@/, '//$1:***@');
  if (name === 'QBSYNC_ALERT_WEBHOOK') {
    try {
      const u = new URL(value);
      return `${u.protocol}//${u.host}/***`;
    } catch {
      return '***';
    }
  }
  return value;
}

/** Variables set to something else than their default, masked. */
export function nonDefaultValues(env: Record<string, string | undefined>): Array<{ name: string; value: string; default?: unknown }> {
  const out: Array<{ name: string; value: string; default?: unknown }> = [];
  for (const d of configDocs()) {
    const v = env[d.name]?.trim();
    if (v === undefined || v === '') continue;
    if (d.default !== undefined && String(d.default) === v) continue;
    out.push({ name: d.name, value: maskValue(d.name, v), ...(d.default !== undefined ? { default: d.default } : {}) });
  }
  return out;
}

/** The most requests a sliding-window budget lets through within any 60 s. */
export function worstPer60s(limit: number, windowSeconds: number): number {
  return windowSeconds >= QBENCH_WINDOW_SECONDS ? limit : limit * Math.ceil(QBENCH_WINDOW_SECONDS / windowSeconds);
}

const isLoopback = (host: string) => /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i.test(host);

function checkConfig(deps: DoctorDeps): Check {
  if (!deps.config) {
    return {
      name: 'configuration', verdict: 'fail',
      summary: `invalid: ${(deps.configProblems ?? []).join('; ')}`,
      action: 'fix the variables named above (environment or .env); `qbsync config --docs` lists every variable with its default',
      details: { problems: deps.configProblems ?? [] },
    };
  }
  const c = deps.config;
  const changed = nonDefaultValues(deps.env);
  const list = changed.map((v) => `${v.name}=${v.value}`).join(', ');
  const summary = `valid; ${changed.length ? `${changed.length} value(s) differ from the defaults: ${list}` : 'every value is the default'}`;
  const details = { non_default: changed };
  if (c.qbench.baseUrl) {
    const u = new URL(c.qbench.baseUrl);
    if (u.protocol === 'http:' && !isLoopback(u.hostname)) {
      return {
        name: 'configuration', verdict: 'warn', summary: `${summary}; QBENCH_BASE_URL uses plain http to ${u.host}`,
        action: 'use https:// — the access token would travel unencrypted', details,
      };
    }
  }
  return { name: 'configuration', verdict: 'ok', summary, details };
}

async function checkDatabase(deps: DoctorDeps): Promise<{ check: Check; db?: Database }> {
  const c = deps.config!;
  const where = c.databaseUrl ? maskValue('DATABASE_URL', c.databaseUrl) : `embedded PostgreSQL in ${c.dataDir}/pg`;
  let db: Database;
  try {
    db = await deps.openDb();
  } catch (err) {
    return {
      check: {
        name: 'database', verdict: 'fail', summary: `cannot connect (${where}): ${errorMessage(err)}`,
        action: c.databaseUrl
          ? 'check DATABASE_URL (host, port, database, user, password) and that the server is running and accepts connections from here'
          : `check that ${c.dataDir} is writable and not used by another PostgreSQL; remove a stale ${c.dataDir}/pg/data/postmaster.pid only if no postgres process runs`,
      },
    };
  }
  try {
    const { rows: [v] } = await db.pool.query<{ version: string; num: number; db: string; now: Date }>(
      `SELECT current_setting('server_version') AS version, current_setting('server_version_num')::int AS num, current_database() AS db, now() AS now`,
    );
    let pending: string[];
    let applied: string[];
    try {
      pending = await pendingMigrations(db.knex);
      const [done] = (await db.knex.migrate.list()) as [Array<{ name: string }>, unknown];
      applied = done.map((d) => d.name);
    } catch (err) {
      return {
        db,
        check: {
          name: 'database', verdict: 'fail', summary: `PostgreSQL ${v.version} reachable (${where}), but the migrations cannot be read: ${errorMessage(err)}`,
          action: 'the database may have been migrated by a newer qbsync: run that version, or restore a backup made by this one',
        },
      };
    }
    const details = { server_version: v.version, database: v.db, applied: applied.length, pending };
    if (v.num < 150000) {
      return { db, check: { name: 'database', verdict: 'fail', summary: `PostgreSQL ${v.version} at ${where} is too old`, action: 'qbsync needs PostgreSQL 15 or newer', details } };
    }
    if (pending.length && !applied.length) {
      return {
        db: undefined,
        check: {
          name: 'database', verdict: 'warn', summary: `PostgreSQL ${v.version} at ${where}: an empty database (no qbsync schema yet)`,
          action: 'run `qbsync migrate` (or any command that uses the database, e.g. `qbsync sync`) to create the schema', details,
        },
      };
    }
    if (pending.length) {
      return {
        db,
        check: {
          name: 'database', verdict: 'fail', summary: `PostgreSQL ${v.version} at ${where}; ${pending.length} migration(s) not applied: ${pending.join(', ')}`,
          action: 'run `qbsync migrate` (every qbsync process also applies them at start)', details,
        },
      };
    }
    return { db, check: { name: 'database', verdict: 'ok', summary: `PostgreSQL ${v.version} at ${where}; ${applied.length} migrations, all applied`, details } };
  } catch (err) {
    return { db, check: { name: 'database', verdict: 'fail', summary: `connected to ${where} but a query failed: ${errorMessage(err)}`, action: 'check the role\'s privileges on the database' } };
  }
}

interface QBenchProbe {
  checks: Check[];
}

async function checkQBench(deps: DoctorDeps, db: Database | undefined): Promise<QBenchProbe> {
  const c = deps.config!;
  const now = deps.now ?? Date.now;
  const maxSkewMs = deps.maxSkewMs ?? 30_000;
  let target: QBenchTarget;
  try {
    target = await deps.qbench();
  } catch (err) {
    return { checks: [{ name: 'qbench', verdict: 'fail', summary: `could not start the built-in simulator: ${errorMessage(err)}`, action: 'set QBSYNC_SIM_PORT to a free port, or QBENCH_BASE_URL' }, skipped('clock', 'QBench was not reached')] };
  }
  const label = target.simulated ? `the built-in simulator at ${target.baseUrl} (QBENCH_BASE_URL is not set: no real QBench is used)` : target.baseUrl;
  const timeoutMs = Math.min(c.qbench.timeoutSeconds * 1000, 10_000);
  const policy = { maxAttempts: 2, baseDelayMs: 200, maxDelayMs: 500, rateLimitMaxWaitMs: 5000, maxRateLimitRetries: 1 };
  const tokens = new TokenProvider({
    baseUrl: target.baseUrl, tokenUrl: c.qbench.tokenUrl, clientId: c.qbench.clientId, clientSecret: c.qbench.clientSecret,
    requestTimeoutMs: timeoutMs, retry: policy, fetch: deps.fetch,
  });
  const tokenStarted = now();
  try {
    await tokens.getToken();
  } catch (err) {
    return { checks: [describeQBenchFailure(err, label, tokens.tokenUrl, 'token'), skipped('clock', 'QBench was not reached')] };
  }
  const tokenMs = now() - tokenStarted;
  let budget: RateBudget = new MemoryRateBudget({ limit: c.qbench.rateLimit, windowMs: c.qbench.rateWindowSeconds * 1000 });
  if (db) budget = new PgRateBudget(db.pool, { limit: c.qbench.rateLimit, windowMs: c.qbench.rateWindowSeconds * 1000 });
  const client = new QBenchClient({
    baseUrl: target.baseUrl, tokenUrl: c.qbench.tokenUrl, clientId: c.qbench.clientId, clientSecret: c.qbench.clientSecret,
    requestTimeoutMs: timeoutMs, maxAttempts: 2, backoffBaseMs: 200, backoffCapMs: 500, rateLimitMaxWaitMs: 5000, maxRateLimitRetries: 1,
    rateBudget: budget, fetch: deps.fetch,
  });
  let page;
  try {
    page = await client.listPage('customers', { pageNum: 1, pageSize: 1 });
  } catch (err) {
    return { checks: [describeQBenchFailure(err, label, tokens.tokenUrl, 'list'), skipped('clock', 'QBench was not reached')] };
  }
  if (page.skipped) {
    return { checks: [{ name: 'qbench', verdict: 'fail', summary: `${label}: the customer list was refused (${page.reason})`, action: 'check the API client\'s permissions in QBench' }, skipped('clock', 'no usable answer')] };
  }
  const qbenchCheck: Check = {
    name: 'qbench', verdict: 'ok',
    summary: `${label}: token issued in ${tokenMs} ms; GET /qbench/api/v1/customer?page_size=1 answered ${page.status} in ${page.durationMs} ms (${page.totalCount ?? '?'} customers)`,
    details: { base_url: target.baseUrl, simulated: target.simulated, token_ms: tokenMs, list_ms: page.durationMs, customers: page.totalCount },
  };

  // Clock: QBench's Date header (1 s resolution) against our clock at the middle of the request.
  let clock: Check;
  const dbSkew = db ? await databaseSkewMs(db, now).catch(() => undefined) : undefined;
  const dbNote = dbSkew === undefined ? '' : `; database clock ${fmtSkew(dbSkew)}`;
  if (!page.serverDate) {
    clock = { name: 'clock', verdict: 'warn', summary: `QBench sent no Date header${dbNote}`, action: 'incremental syncs then use the local clock for their watermark: keep this machine on NTP' };
  } else {
    const skew = page.serverDate.getTime() - (page.fetchedAt.getTime() - page.durationMs / 2);
    const details = { skew_ms: Math.round(skew), database_skew_ms: dbSkew === undefined ? null : Math.round(dbSkew), qbench_date: page.serverDate.toISOString() };
    if (target.simulated) {
      clock = { name: 'clock', verdict: 'ok', summary: `the simulator's clock is simulated (${page.serverDate.toISOString()}), so skew against it means nothing${dbNote}`, details };
    } else if (Math.abs(skew) > maxSkewMs) {
      clock = {
        name: 'clock', verdict: 'warn', summary: `QBench's clock is ${fmtSkew(skew)} (more than ${maxSkewMs / 1000} s)${dbNote}`,
        action: 'synchronise this machine\'s clock (NTP: `timedatectl set-ntp true`); JWT assertions are signed with it and QBench rejects ones from the future',
        details,
      };
    } else {
      clock = { name: 'clock', verdict: 'ok', summary: `QBench's clock is ${fmtSkew(skew)}${dbNote}`, details };
    }
    if (clock.verdict === 'ok' && dbSkew !== undefined && Math.abs(dbSkew) > maxSkewMs) {
      clock = { ...clock, verdict: 'warn', summary: clock.summary, action: 'the database server\'s clock is off: synchronise it (NTP); run history and alerts use it' };
    }
  }
  return { checks: [qbenchCheck, clock] };
}

async function databaseSkewMs(db: Database, now: () => number): Promise<number> {
  const before = now();
  const { rows: [r] } = await db.pool.query<{ t: Date }>('SELECT clock_timestamp() AS t');
  const after = now();
  return r.t.getTime() - (before + after) / 2;
}

function fmtSkew(ms: number): string {
  const s = Math.round(ms / 100) / 10;
  if (Math.abs(s) < 1) return 'within 1 s of ours';
  return `${Math.abs(s)} s ${s > 0 ? 'ahead of' : 'behind'} ours`;
}

function skipped(name: string, why: string): Check {
  return { name, verdict: 'warn', summary: `not checked: ${why}`, action: 'fix the failure above first' };
}

function describeQBenchFailure(err: unknown, label: string, tokenUrl: string, step: 'token' | 'list'): Check {
  const msg = errorMessage(err);
  if (err instanceof QBenchAuthError) {
    if (err.status === undefined) {
      return { name: 'qbench', verdict: 'fail', summary: `cannot reach the QBench token endpoint ${tokenUrl}: ${msg}`, action: 'check QBENCH_BASE_URL (and QBENCH_TOKEN_URL), DNS, proxies and firewalls between this machine and QBench' };
    }
    if (err.status >= 500 || err.status === 429) {
      return { name: 'qbench', verdict: 'fail', summary: `${label}: the token endpoint answered HTTP ${err.status}: ${msg}`, action: 'QBench is having trouble: try again later; syncs retry on their own' };
    }
    return {
      name: 'qbench', verdict: 'fail',
      summary: `${label}: QBench refused the credentials (HTTP ${err.status}${err.errorCode ? ` ${err.errorCode}` : ''})`,
      action: 'check QBENCH_CLIENT_ID and QBENCH_CLIENT_SECRET (in QBench: Settings → API clients; the client type must be "Server-Side Web Application"), and that this machine\'s clock is right',
      details: { status: err.status, error: err.errorCode ?? null },
    };
  }
  if (err instanceof QBenchHttpError) {
    const what = err.status === 401 || err.status === 403 ? 'the API refused the token' : `the API answered HTTP ${err.status}`;
    return {
      name: 'qbench', verdict: 'fail', summary: `${label}: token issued, but ${what}: ${msg}`,
      action: err.status === 401 || err.status === 403 ? 'check the API client\'s permissions in QBench' : err.status === 429 ? 'another client is using the whole rate limit: see the rate budget check' : 'QBench may be down: try again later',
    };
  }
  if (err instanceof QBenchTransientError) {
    return { name: 'qbench', verdict: 'fail', summary: `${label}: ${step === 'token' ? 'token' : 'list'} request failed: ${msg}`, action: 'QBench is unreachable or failing: check the network and QBench\'s status, then try again' };
  }
  return { name: 'qbench', verdict: 'fail', summary: `${label}: ${msg}`, action: 'check QBENCH_BASE_URL and the network' };
}

async function checkRateBudget(deps: DoctorDeps, db: Database | undefined, simulated: boolean): Promise<Check> {
  const c = deps.config!;
  const worst = worstPer60s(c.qbench.rateLimit, c.qbench.rateWindowSeconds);
  const budget = `${c.qbench.rateLimit} requests / ${c.qbench.rateWindowSeconds} s (at most ${worst} in any 60 s; QBench allows ${QBENCH_LIMIT} / ${QBENCH_WINDOW_SECONDS} s)`;
  let history = 'run history not read (database not usable)';
  const details: Record<string, unknown> = { limit: c.qbench.rateLimit, window_seconds: c.qbench.rateWindowSeconds, worst_per_60s: worst };
  let worstRun: { run_id: string; rate_limited: number } | undefined;
  if (db) {
    try {
      const { rows: [h] } = await db.pool.query<{ runs: number; limited: number; max: number }>(
        `SELECT count(*)::int AS runs, coalesce(sum(rate_limited), 0)::int AS limited, coalesce(max(rate_limited), 0)::int AS max
         FROM qbsync.sync_runs WHERE created_at > now() - interval '24 hours'`,
      );
      const { rows: top } = await db.pool.query<{ run_id: string; rate_limited: number }>(
        `SELECT run_id, rate_limited FROM qbsync.sync_runs WHERE created_at > now() - interval '24 hours' AND rate_limited > 0 ORDER BY rate_limited DESC LIMIT 1`,
      );
      worstRun = top[0];
      history = `${h.limited} rate-limited (429) answers in ${h.runs} run(s) in the last 24 h`;
      Object.assign(details, { runs_24h: h.runs, rate_limited_24h: h.limited, max_per_run_24h: h.max });
    } catch (err) {
      history = `run history not read: ${errorMessage(err)}`;
    }
  }
  if (simulated) return { name: 'rate budget', verdict: 'ok', summary: `${budget}; the simulator is used; ${history}`, details };
  if (worst > QBENCH_LIMIT) {
    return {
      name: 'rate budget', verdict: 'fail', summary: `${budget}: more than QBench allows; ${history}`,
      action: `set QBENCH_RATE_LIMIT=295 and QBENCH_RATE_WINDOW_SECONDS=60 (or lower): QBench answers 429 beyond ${QBENCH_LIMIT} per ${QBENCH_WINDOW_SECONDS} s`, details,
    };
  }
  if (worstRun && worstRun.rate_limited > c.alertRateLimited) {
    return {
      name: 'rate budget', verdict: 'warn', summary: `${budget}; ${history}; run ${worstRun.run_id} got ${worstRun.rate_limited}`,
      action: 'something else uses the same QBench API client (another tool, another qbsync database), or the budget is too high: lower QBENCH_RATE_LIMIT', details,
    };
  }
  if (worst === QBENCH_LIMIT) {
    return { name: 'rate budget', verdict: 'warn', summary: `${budget}: no margin; ${history}`, action: 'leave a margin (the default 295 / 60 s): QBench counts a request when it arrives', details };
  }
  return { name: 'rate budget', verdict: 'ok', summary: `${budget}; ${history}`, details };
}

async function checkSync(deps: DoctorDeps, db: Database | undefined): Promise<Check> {
  if (!db) return skipped('sync', 'the database is not usable');
  const c = deps.config!;
  try {
    const { rows: stale } = await db.pool.query<{ entity: string; hours: number }>(
      `SELECT entity, round((extract(epoch FROM now() - updated_at) / 3600)::numeric, 1)::float8 AS hours
       FROM qbsync.watermarks WHERE updated_at < now() - make_interval(secs => $1 * 3600) ORDER BY entity`,
      [c.alertStaleHours],
    );
    const { rows: [wm] } = await db.pool.query<{ n: number; last: Date | null }>(`SELECT count(*)::int AS n, max(updated_at) AS last FROM qbsync.watermarks`);
    const { rows: stuck } = await db.pool.query<{ run_id: string; status: string; age_min: number }>(
      `SELECT run_id, status, round((extract(epoch FROM now() - coalesce(heartbeat_at, created_at)) / 60)::numeric)::int AS age_min
       FROM qbsync.sync_runs
       WHERE (status = 'queued' AND created_at < now() - interval '1 hour')
          OR (status = 'running' AND coalesce(heartbeat_at, started_at, created_at) < now() - interval '30 minutes')
       ORDER BY created_at LIMIT 5`,
    );
    const { rows: [last] } = await db.pool.query<{ status: string; finished_at: Date | null; error: string | null }>(
      `SELECT status, finished_at, error FROM qbsync.sync_runs WHERE mode IN ('full', 'incremental') AND status NOT IN ('queued', 'running')
       ORDER BY created_at DESC LIMIT 1`,
    );
    const details = { entities_with_watermark: wm.n, stale, stuck, last_run: last ?? null };
    if (!wm.n && !last) return { name: 'sync', verdict: 'ok', summary: 'nothing synced yet (run `qbsync sync`)', details };
    const lastNote = last ? `last sync ${last.status}${last.finished_at ? ` at ${new Date(last.finished_at).toISOString()}` : ''}` : 'no finished sync';
    if (stuck.length) {
      return {
        name: 'sync', verdict: 'warn',
        summary: `${stuck.map((s) => `run ${s.run_id} ${s.status} for ${s.age_min} min`).join('; ')}; ${lastNote}`,
        action: 'queued runs need a worker (`qbsync worker`); a running run without heartbeat was left by a process that died — the next sync closes it and resumes its work',
        details,
      };
    }
    if (stale.length) {
      return {
        name: 'sync', verdict: 'warn',
        summary: `no successful catch-up for ${stale.map((s) => `${s.entity} (${s.hours} h)`).join(', ')} (threshold ${c.alertStaleHours} h); ${lastNote}`,
        action: 'check that a schedule is set (`qbsync schedule show`) and workers run; `qbsync status` shows failed runs',
        details,
      };
    }
    if (last?.status === 'failed') {
      return { name: 'sync', verdict: 'warn', summary: `${lastNote}: ${last.error ?? 'no error recorded'}`, action: 'see `qbsync status`; the next sync resumes from the checkpoints', details };
    }
    return { name: 'sync', verdict: 'ok', summary: `${wm.n} entities caught up within ${c.alertStaleHours} h; ${lastNote}`, details };
  } catch (err) {
    return { name: 'sync', verdict: 'warn', summary: `run history not read: ${errorMessage(err)}`, action: 'fix the database check first' };
  }
}

function checkAlerts(c: Config): Check {
  const thresholds = `watermark stale after ${c.alertStaleHours} h, more than ${c.alertRateLimited} 429s in a run`;
  if (!c.alertWebhook) {
    return { name: 'alerts', verdict: 'ok', summary: `no webhook (QBSYNC_ALERT_WEBHOOK): alerts are only logged and recorded in qbsync.alerts; ${thresholds}` };
  }
  return { name: 'alerts', verdict: 'ok', summary: `sent to ${webhookHost(c.alertWebhook)} on a failed sync, ${thresholds}` };
}

export async function runDoctor(deps: DoctorDeps): Promise<DoctorReport> {
  const checks: Check[] = [checkConfig(deps)];
  if (deps.config) {
    const { check, db: opened } = await checkDatabase(deps);
    checks.push(check);
    // The run history and the shared rate budget are read only from a database whose schema is current.
    const db = check.verdict === 'ok' ? opened : undefined;
    const probe = await checkQBench(deps, db);
    checks.push(...probe.checks);
    const simulated = !deps.config.qbench.baseUrl;
    checks.push(await checkRateBudget(deps, db, simulated));
    checks.push(await checkSync(deps, db));
    checks.push(checkAlerts(deps.config));
  }
  const counts: Record<Verdict, number> = { ok: 0, warn: 0, fail: 0 };
  for (const c of checks) counts[c.verdict]++;
  return { ok: counts.fail === 0, checks, counts };
}

/** The text report: one line per check, then what to do. */
export function formatDoctor(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines: string[] = [];
  for (const c of report.checks) {
    lines.push(`${c.verdict.padEnd(4)}  ${c.name.padEnd(width)}  ${c.summary}`);
    if (c.action && c.verdict !== 'ok') lines.push(`${' '.repeat(6 + width + 2)}→ ${c.action}`);
  }
  const { ok, warn, fail } = report.counts;
  lines.push('', `${ok} ok, ${warn} warning${warn === 1 ? '' : 's'}, ${fail} failure${fail === 1 ? '' : 's'}`);
  return lines.join('\n') + '\n';
}
