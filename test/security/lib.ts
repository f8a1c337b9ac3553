/**
 * Shared pieces of the security suites: a seeded PRNG (failures print the seed; QBSYNC_FUZZ_SEED replays
 * them), checksums of the data qbsync keeps, raw HTTP (paths and bytes exactly as given: no client-side URL
 * normalisation), and the checks every error answer must pass.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type pg from 'pg';
import type { Enqueuer } from '../../api/index.js';

/** QBSYNC_FUZZ_SEED=<n> replays a run; =random picks one (printed). Default: a fixed seed (CI is reproducible). */
export function fuzzSeed(): number {
  const v = process.env.QBSYNC_FUZZ_SEED;
  if (v === 'random') return Math.floor(Math.random() * 2 ** 31);
  if (v && /^\d+$/.test(v)) return Number(v);
  return 20261127;
}

/** QBSYNC_FUZZ_LONG=1: every case instead of a sample (minutes, not seconds). */
export const LONG = process.env.QBSYNC_FUZZ_LONG === '1';

/** Picks the cases of a fuzz run (see test/helpers/random.ts). */
export { seededRandom as prng, type SeededRandom as Prng } from '../helpers/random.js';


/**
 * Columns the API or the CLI legitimately write while answering refused requests; left out of the checksum:
 * - qbsync.api_tokens.last_used_at: set (at most once a minute) by every authenticated request;
 * - qbsync.login_failures, the whole table ('*'): the login failure counter and lockout of every username tried
 *   (POST /api/auth/login with a wrong password, whether the user exists or not).
 * Every other column of every table in raw, qbench and qbsync is compared.
 */
export const LEGITIMATE_WRITES: Record<string, string[]> = {
  'qbsync.api_tokens': ['last_used_at'],
  'qbsync.login_failures': ['*'],
};

/** Row count and md5 of every table of raw, qbench and qbsync (rows as JSON, sorted), minus LEGITIMATE_WRITES. */
export async function dataChecksums(pool: pg.Pool): Promise<Record<string, string>> {
  const { rows: tables } = await pool.query<{ s: string; t: string }>(
    `SELECT n.nspname AS s, c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname IN ('raw', 'qbench', 'qbsync') ORDER BY 1, 2`,
  );
  const out: Record<string, string> = {};
  for (const { s, t } of tables) {
    const name = `${s}.${t}`;
    const drop = LEGITIMATE_WRITES[name] ?? [];
    if (drop.includes('*')) {
      out[name] = 'not compared';
      continue;
    }
    const { rows: [r] } = await pool.query<{ n: number; md5: string }>(
      `SELECT count(*)::int AS n, md5(coalesce(string_agg(x.j, '|' ORDER BY x.j), '')) AS md5
       FROM (SELECT (to_jsonb(r) - $1::text[])::text AS j FROM "${s}"."${t}" r) x`,
      [drop],
    );
    out[name] = `${r.n} rows ${r.md5}`;
  }
  return out;
}

/** The tables whose checksum differs (empty when nothing changed). */
export function changedTables(before: Record<string, string>, after: Record<string, string>): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((n) => before[n] !== after[n]).map((n) => `${n}: ${before[n] ?? 'absent'} -> ${after[n] ?? 'absent'}`);
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** One HTTP request with the path, headers and body exactly as given (Connection: close). */
export function request(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers: { connection: 'close', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Bytes straight onto a socket (requests node's HTTP client refuses to send); the answer parsed loosely. The
 * socket stays open for writing (a request that promises more body than it sends is answered, not cut off)
 * until the answer is complete (its Content-Length) or the server closes.
 */
export function rawSocket(base: string, bytes: Buffer): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname, () => s.write(bytes));
    const chunks: Buffer[] = [];
    let done = false;
    const parse = (): RawResponse | undefined => {
      const all = Buffer.concat(chunks).toString('utf8');
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const lines = all.slice(0, end).split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      const headers: http.IncomingHttpHeaders = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const text = all.slice(end + 4);
      const length = Number(headers['content-length']);
      if (Number.isFinite(length) && Buffer.byteLength(text) < length) return undefined;
      return { status, headers, text };
    };
    s.setTimeout(30_000, () => s.destroy(new Error('no answer within 30 s')));
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      const r = parse();
      if (r && r.headers['content-length'] !== undefined && !done) {
        done = true;
        s.destroy();
        resolve(r);
      }
    });
    s.on('error', (err) => (done ? undefined : reject(err)));
    s.on('close', () => {
      if (done) return;
      done = true;
      resolve(parse() ?? { status: 0, headers: {}, text: Buffer.concat(chunks).toString('utf8') });
    });
  });
}

/** A stack trace, a source location or an HTML error page. */
export const STACK = /\n\s+at |\bat [\w$.<>]+ \([^)]*:\d+:\d+\)|node:internal|\/[\w.-]+\/node_modules\/|\.(?:ts|js|cjs|mjs):\d+:\d+|<html|<!DOCTYPE|<pre>|"stack"\s*:/i;

/** Problems with an error answer: JSON with a string `error` and `message`, no stack, no internals. */
export function errorShapeProblems(r: RawResponse, method: string): string[] {
  const p: string[] = [];
  if (STACK.test(r.text)) p.push('a stack trace, source location or HTML page in the answer');
  if (method === 'HEAD') return p;
  if (!/^application\/json/.test(String(r.headers['content-type'] ?? ''))) p.push(`content-type ${r.headers['content-type']} (not JSON)`);
  let body: unknown;
  try {
    body = JSON.parse(r.text);
  } catch {
    p.push('the body is not JSON');
    return p;
  }
  const b = body as { error?: unknown; message?: unknown };
  if (typeof b?.error !== 'string' || !b.error) p.push('no "error" code');
  if (typeof b?.message !== 'string' || !b.message) p.push('no "message"');
  return p;
}

/** Runs `fn` over `items` with at most `n` at a time. */
export async function pool<T>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= items.length) return;
        await fn(items[i], i);
      }
    }),
  );
}

/** A job enqueuer that only records what reached it, so a test can assert a refused request queued nothing. */
export function recordingEnqueuer(): { enqueuer: Enqueuer; enqueued: string[] } {
  const enqueued: string[] = [];
  const record = async (what: string) => {
    enqueued.push(what);
    return crypto.randomUUID();
  };
  return { enqueued, enqueuer: { sync: () => record('sync'), replay: () => record('replay'), backfill: () => record('backfill') } };
}
