/**
 * API latency: `node --import tsx bench/api.ts [--sizes medium,large] [--seconds 3] [--connections 1] [--reuse]`
 *
 * For each size: lands the simulator's lab with a full sync, transforms it, serves the API, and drives every
 * metric endpoint over a one-year range with autocannon (p50/p95/p99 from every response time, requests/s).
 * Baseline, same run, same data: the same metric computed by a direct query over qbench.tests (no rollups),
 * timed sequentially. Goal: p95 < 50 ms per endpoint, flat from medium to large. Results: bench/results/api-<size>.json.
 * --reuse keeps each size's database and skips its landing when an earlier run left one (transforms still run).
 */
import { createRequire } from 'node:module';
import { createLogger, loadConfig } from '../core/index.js';
import { makeClient, runSync, MemoryRateBudget } from '../ingest/index.js';
import { runTransforms, TARGETS } from '../transform/index.js';
import { createApiToken, startApiServer } from '../api/index.js';
import { arg, benchDatabase, simProcess, writeResult } from './lib.js';

// autocannon ships no type declarations: load it untyped with the one shape used here.
type Instance = PromiseLike<{ requests: { average: number } }> & { on(event: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void): void };
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: Record<string, unknown>) => Instance;

const sizes = arg('sizes', 'medium').split(',');
const seconds = Number(arg('seconds', '3'));
const connections = Number(arg('connections', '1'));
const reuse = process.argv.includes('--reuse');
const config = loadConfig({});
const logger = createLogger({ level: 'warn' });

// The simulator's "now" is 2026-11-20: the last full year before it.
const FROM = '2025-11-20';
const TO = '2026-11-19';
const R = `date_from=${FROM}&date_to=${TO}`;
const LO = `'${FROM}'::timestamptz`;
const HI = `('${TO}'::date + 1)::timestamptz`;

const ENDPOINTS: Array<{ name: string; path: string; baseline?: string }> = [
  { name: 'summary', path: `/api/v1/metrics/summary?${R}`, baseline: `SELECT count(*) FILTER (WHERE date_created >= ${LO} AND date_created < ${HI}), count(*) FILTER (WHERE report_completed_date >= ${LO} AND report_completed_date < ${HI}), avg(tat_hours) FILTER (WHERE report_completed_date >= ${LO} AND report_completed_date < ${HI}) FROM qbench.tests WHERE NOT deleted` },
  { name: 'activity/daily', path: `/api/v1/metrics/activity/daily?${R}&compare_previous=true`, baseline: `SELECT (date_created AT TIME ZONE 'UTC')::date, count(*) FROM qbench.tests WHERE date_created >= ${LO} AND date_created < ${HI} AND NOT deleted GROUP BY 1` },
  { name: 'samples/overview', path: `/api/v1/metrics/samples/overview?${R}`, baseline: `SELECT state, count(*) FROM qbench.samples WHERE date_created >= ${LO} AND date_created < ${HI} AND NOT deleted GROUP BY 1` },
  { name: 'tests/overview', path: `/api/v1/metrics/tests/overview?${R}`, baseline: `SELECT state, label_abbr, count(*) FROM qbench.tests WHERE date_created >= ${LO} AND date_created < ${HI} AND NOT deleted GROUP BY 1, 2` },
  { name: 'customers/new', path: `/api/v1/metrics/customers/new?${R}` },
  { name: 'customers/top-tests', path: `/api/v1/metrics/customers/top-tests?${R}`, baseline: `SELECT o.customer_id, count(*) FROM qbench.tests t JOIN qbench.samples s ON s.id = t.sample_id JOIN qbench.orders o ON o.id = s.order_id WHERE t.date_created >= ${LO} AND t.date_created < ${HI} AND NOT t.deleted GROUP BY 1 ORDER BY 2 DESC LIMIT 10` },
  { name: 'tests/tat', path: `/api/v1/metrics/tests/tat?date_created_from=${FROM}&date_created_to=${TO}&group_by=week`, baseline: `SELECT avg(tat_hours), percentile_disc(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY tat_hours) FROM qbench.tests WHERE report_completed_date >= ${LO} AND report_completed_date < ${HI} AND tat_hours IS NOT NULL AND NOT deleted` },
  { name: 'tests/tat-breakdown', path: `/api/v1/metrics/tests/tat-breakdown?date_created_from=${FROM}&date_created_to=${TO}`, baseline: `SELECT label_abbr, avg(tat_hours), percentile_disc(0.95) WITHIN GROUP (ORDER BY tat_hours) FROM qbench.tests WHERE date_created >= ${LO} AND date_created < ${HI} AND tat_hours IS NOT NULL AND NOT deleted GROUP BY 1` },
  { name: 'tests/label-distribution', path: `/api/v1/metrics/tests/label-distribution?${R}`, baseline: `SELECT label_abbr, count(*) FROM qbench.tests WHERE date_created >= ${LO} AND date_created < ${HI} AND NOT deleted GROUP BY 1` },
  { name: 'reports/overview', path: `/api/v1/metrics/reports/overview?${R}`, baseline: `SELECT count(*), count(*) FILTER (WHERE tat_hours <= 48) FROM qbench.tests WHERE report_completed_date >= ${LO} AND report_completed_date < ${HI} AND state = 'REPORTED' AND NOT deleted` },
  { name: 'tests/tat-daily', path: `/api/v1/metrics/tests/tat-daily?${R}`, baseline: `SELECT (report_completed_date AT TIME ZONE 'UTC')::date, avg(tat_hours), count(*) FILTER (WHERE tat_hours <= 48) FROM qbench.tests WHERE report_completed_date >= ${LO} AND report_completed_date < ${HI} AND NOT deleted GROUP BY 1` },
  { name: 'common/filters', path: `/api/v1/metrics/common/filters`, baseline: `SELECT DISTINCT state FROM qbench.tests WHERE NOT deleted` },
  { name: 'sync/status', path: `/api/v1/metrics/sync/status?entity=tests` },
  { name: 'summary (304)', path: `/api/v1/metrics/summary?${R}` },
];

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))];
const r1 = (n: number) => Math.round(n * 10) / 10;

async function drive(url: string, token: string, etag?: string) {
  const times: number[] = [];
  let non2xx = 0;
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(etag ? { 'if-none-match': etag } : {}) };
  const instance = autocannon({ url, connections, duration: seconds, headers });
  instance.on('response', (_c: unknown, status: number, _b: number, ms: number) => {
    times.push(ms);
    if (status >= 400) non2xx++;
  });
  const result = await instance;
  times.sort((a, b) => a - b);
  return { requests: times.length, rps: Math.round(result.requests.average), p50: r1(pct(times, 0.5)), p95: r1(pct(times, 0.95)), p99: r1(pct(times, 0.99)), errors: non2xx };
}

async function main() {
  for (const size of sizes) {
    const sim = await simProcess(['--size', size, '--no-rate-limit']);
    const { db, drop, reused } = await benchDatabase(`bench_api_${size}`, { reuse });
    try {
      let t = performance.now();
      const landed = reused && (await db.pool.query('SELECT 1 FROM qbsync.sync_runs WHERE status = $1 LIMIT 1', ['succeeded'])).rowCount === 1;
      if (!landed) await runSync({ db, logger, makeClient: (onEvent) => makeClient(config, { baseUrl: sim.url, onEvent, rateBudget: new MemoryRateBudget({ limit: 1e9, windowMs: 1000 }) }) }, { mode: 'full', entities: [...TARGETS] });
      const landS = (performance.now() - t) / 1000;
      t = performance.now();
      await runTransforms(db, { timezone: 'UTC', logger });
      const transformS = (performance.now() - t) / 1000;
      await db.pool.query('ANALYZE');
      if (landed) console.log(`(--reuse: the lab landed by an earlier run of bench_api_${size})`);
      const { rows: [counts] } = await db.pool.query(`SELECT (SELECT count(*) FROM qbench.tests)::int AS tests,
        (SELECT count(*) FROM qbench.tests WHERE date_created >= ${LO} AND date_created < ${HI})::int AS tests_in_year,
        (SELECT count(*) FROM qbench.rollup_tests_created)::int AS rollup_rows,
        (SELECT count(*) FROM qbench.rollup_tests_created_lab WHERE day BETWEEN '${FROM}' AND '${TO}')::int AS lab_rows_in_year,
        (SELECT count(*) FROM qbench.rollup_tat_created WHERE span = 'M' OR day BETWEEN '${FROM}' AND '${TO}')::int AS tat_rows`);
      console.log(`\n${size}: ${counts.tests} tests (${counts.tests_in_year} created in ${FROM}..${TO}), ${counts.rollup_rows} rollup_tests_created rows, ${counts.lab_rows_in_year} rollup_tests_created_lab rows in the year; landed in ${landS.toFixed(0)} s, transformed in ${transformS.toFixed(0)} s`);
      const server = await startApiServer({ db, config, logger }, { host: '127.0.0.1', port: 0 });
      const token = (await createApiToken(db.pool, { name: 'bench' })).token;
      const rows: Array<Record<string, unknown>> = [];
      console.log(`${'endpoint'.padEnd(26)} ${'req/s'.padStart(6)} ${'p50'.padStart(7)} ${'p95'.padStart(7)} ${'p99'.padStart(7)}   baseline p50/p95 (direct SQL on qbench.tests)`);
      for (const e of ENDPOINTS) {
        let etag: string | undefined;
        if (e.name.endsWith('(304)')) {
          const res = await fetch(server.url + e.path, { headers: { authorization: `Bearer ${token}` } });
          etag = res.headers.get('etag') ?? undefined;
        }
        // Warm up (plans, caches) before measuring.
        for (let i = 0; i < 3; i++) await fetch(server.url + e.path, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.arrayBuffer());
        const api = await drive(server.url + e.path, token, etag);
        let baseline: { p50: number; p95: number } | undefined;
        if (e.baseline) {
          const ts: number[] = [];
          for (let i = 0; i < 15; i++) {
            const s = performance.now();
            await db.pool.query(e.baseline);
            ts.push(performance.now() - s);
          }
          ts.sort((a, b) => a - b);
          baseline = { p50: r1(pct(ts, 0.5)), p95: r1(pct(ts, 0.95)) };
        }
        rows.push({ endpoint: e.name, ...api, baseline });
        console.log(
          `${e.name.padEnd(26)} ${String(api.rps).padStart(6)} ${api.p50.toFixed(1).padStart(7)} ${api.p95.toFixed(1).padStart(7)} ${api.p99.toFixed(1).padStart(7)}   ${baseline ? `${baseline.p50.toFixed(1)} / ${baseline.p95.toFixed(1)} ms` : '-'}${api.p95 >= 50 ? '   (p95 >= 50 ms)' : ''}${api.errors ? `  ${api.errors} errors!` : ''}`,
        );
      }
      writeResult(`api-${size}`, { size, range: [FROM, TO], connections, seconds, counts, landS, transformS, endpoints: rows });
      await server.stop(1000);
    } finally {
      await drop();
      await sim.stop();
    }
  }
}

await main();
