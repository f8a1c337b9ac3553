/**
 * Scenario 5: the API under load while the data moves underneath it. A real `qbsync api` process serves the
 * metric endpoints to autocannon (short form 20 connections for 5 s, long form 50 for 60 s) while a `qbsync sync
 * --full` runs again and again in another process and replays rebuild the typed tables and swap them in. Every
 * response must be 2xx: no connection error, no timeout, no 5xx during a swap. Latency p50/p95/p99 are reported.
 */
import { createRequire } from 'node:module';
import { expect } from 'chai';
import { createLogger } from '../../core/index.js';
import { makeClient, MemoryRateBudget, runSync } from '../../ingest/index.js';
import { replay, runTransforms } from '../../transform/index.js';
import { createApiToken } from '../../api/index.js';
import type { SimSize } from '../../sim/index.js';
import { createTestDatabase } from '../helpers/pg.js';
import { testSimulator, cliEnv } from '../helpers/sim.js';
import { startCli, type CliResult } from '../helpers/cli.js';
import { testConfig } from '../helpers/jobs.js';
import { Cleanup, countEvents, logger, pct, rng, sleep, stackTrace, waitFor, type ChaosOptions, type Figures } from './lib.js';

// autocannon ships no type declarations: the shape used here.
interface AutocannonResult {
  requests: { average: number; total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats?: Record<string, { count: number }>;
}
type Instance = PromiseLike<AutocannonResult> & { on(event: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void): void };
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: Record<string, unknown>) => Instance;

const PRESETS = {
  short: { size: 'tiny' as SimSize, connections: 20, seconds: 5, latencyMs: 10 },
  long: { size: 'small' as SimSize, connections: 50, seconds: 60, latencyMs: 2 },
};

const ms = (n: number) => Math.round(n * 10) / 10;

function metricPaths(now: Date): string[] {
  const day = (d: Date) => d.toISOString().slice(0, 10);
  const to = new Date(now.getTime() - 86_400_000);
  const from = new Date(now.getTime() - 365 * 86_400_000);
  const R = `date_from=${day(from)}&date_to=${day(to)}`;
  return [
    `/api/v1/metrics/summary?${R}`,
    `/api/v1/metrics/activity/daily?${R}&compare_previous=true`,
    `/api/v1/metrics/samples/overview?${R}`,
    `/api/v1/metrics/tests/overview?${R}`,
    `/api/v1/metrics/customers/new?${R}`,
    `/api/v1/metrics/customers/top-tests?${R}`,
    `/api/v1/metrics/tests/tat?date_created_from=${day(from)}&date_created_to=${day(to)}&group_by=week`,
    `/api/v1/metrics/tests/tat-breakdown?date_created_from=${day(from)}&date_created_to=${day(to)}`,
    `/api/v1/metrics/tests/label-distribution?${R}`,
    `/api/v1/metrics/reports/overview?${R}`,
    `/api/v1/metrics/tests/tat-daily?${R}`,
    `/api/v1/metrics/common/filters`,
    `/api/v1/metrics/sync/status?entity=tests`,
  ];
}

export async function runApiLoadScenario(opts: ChaosOptions): Promise<Figures> {
  const t0 = Date.now();
  const p = PRESETS[opts.form];
  const log = logger(opts, 'api-load');
  const r = rng(opts.seed);
  const cleanup = new Cleanup();
  try {
    const db = await createTestDatabase();
    cleanup.add(() => db.drop());
    const sim = await testSimulator({ size: p.size, seed: opts.seed });
    cleanup.add(() => sim.close());
    const quiet = createLogger({ level: 'error', console: false });
    const budget = new MemoryRateBudget({ limit: 1e6, windowMs: 1000 });
    const first = await runSync({ db, logger: quiet, makeClient: (onEvent) => makeClient(testConfig(), { baseUrl: sim.url, logger: quiet, onEvent, rateBudget: budget }) }, { mode: 'full' });
    expect(first.status).to.equal('succeeded');
    await runTransforms(db, { timezone: 'UTC', logger: quiet });
    sim.setFaults({ latencyMs: p.latencyMs }); // the syncs under load take a while

    const env = cliEnv(db.url, sim, { QBSYNC_LOG_LEVEL: 'warn' });
    const api = startCli(['api', '--port', '0', '--host', '127.0.0.1'], env);
    cleanup.add(() => api.child.kill('SIGKILL'));
    let apiErr = '';
    api.child.stderr!.on('data', (c) => (apiErr += String(c)));
    await waitFor(() => /qbsync api listening on http:\/\/\S+/.test(apiErr) || api.child.exitCode !== null, 90_000, 'the API to listen');
    const url = /qbsync api listening on (http:\/\/\S+?)\s/.exec(apiErr)?.[1];
    expect(url, `api start: ${apiErr}`).to.be.a('string');
    const token = (await createApiToken(db.pool, { name: 'chaos-load' })).token;
    const headers = { authorization: `Bearer ${token}` };
    // The endpoints in a seeded order (each connection cycles through them).
    const paths = metricPaths(sim.now()).sort(() => r.next() - 0.5);
    for (const path of paths) {
      const res = await fetch(url + path, { headers });
      expect(res.status, `${path} before the load: ${await res.text()}`).to.equal(200);
      await res.arrayBuffer().catch(() => undefined);
    }

    // Underneath the load: syncs in another process, replays swapping the typed tables.
    let loadOn = true;
    const syncs: CliResult[] = [];
    const replays: Array<{ endedAt: number }> = [];
    const syncLoop = (async () => {
      while (loadOn) {
        const s = startCli(['sync', '--full', '--wait'], env);
        cleanup.add(() => s.child.kill('SIGKILL'));
        syncs.push(await s.done);
      }
    })();
    const replayLoop = (async () => {
      while (loadOn) {
        await replay(db, { timezone: 'UTC', logger: quiet });
        replays.push({ endedAt: Date.now() });
      }
    })();
    syncLoop.catch(() => undefined); // awaited below; don't let a failure surface as an unhandled rejection first
    replayLoop.catch(() => undefined);
    const eventsBefore = await countEvents(db.pool);
    await waitFor(async () => (await countEvents(db.pool)) > eventsBefore && replays.length > 0, 120_000, 'the sync to land pages and a replay to finish');

    const times: number[] = [];
    const statuses: Record<string, number> = {};
    const loadStart = Date.now();
    const instance = autocannon({ url, connections: p.connections, duration: p.seconds, headers, requests: paths.map((path) => ({ method: 'GET', path })) });
    instance.on('response', (_c, status, _b, ms) => {
      times.push(ms);
      statuses[status] = (statuses[status] ?? 0) + 1;
    });
    const result = await instance;
    const loadEnd = Date.now();
    const eventsDuring = (await countEvents(db.pool)) - eventsBefore;
    loadOn = false;
    await Promise.all([syncLoop, replayLoop]);

    api.child.kill('SIGTERM');
    const apiEnd = await api.done;
    expect(stackTrace(apiEnd.stderr), `the API's output: ${apiEnd.stderr.slice(-2000)}`).to.equal(null);
    for (const s of syncs) expect(s.code, `a sync under load: ${s.stderr.slice(-1500)}`).to.equal(0);
    const swapsDuringLoad = replays.filter((x) => x.endedAt >= loadStart && x.endedAt <= loadEnd).length;

    times.sort((a, b) => a - b);
    const non2xx = Object.entries(statuses).filter(([s]) => !/^2\d\d$/.test(s));
    const mismatches = [
      ...(result.errors ? [`${result.errors} connection errors`] : []),
      ...(result.timeouts ? [`${result.timeouts} timeouts`] : []),
      ...(result.non2xx ? [`${result.non2xx} non-2xx responses`] : []),
      ...non2xx.map(([s, n]) => `${n} responses with status ${s}`),
    ];
    expect(mismatches, `API under load; statuses ${JSON.stringify(statuses)}`).to.deep.equal([]);
    expect(times.length, 'responses').to.be.greaterThan(p.connections);
    expect(swapsDuringLoad, 'replays swapped in while the load ran').to.be.at.least(1);
    expect(eventsDuring, 'the sync landed pages while the load ran').to.be.greaterThan(0);
    const figures = {
      requests: times.length,
      rps: Math.round(times.length / ((loadEnd - loadStart) / 1000)),
      p50: ms(pct(times, 0.5)), p95: ms(pct(times, 0.95)), p99: ms(pct(times, 0.99)), max: ms(times[times.length - 1]),
    };
    log(`${p.connections} connections × ${p.seconds} s over ${paths.length} metric endpoints: ${figures.requests} responses, all 2xx; ` +
      `p50 ${figures.p50} ms, p95 ${figures.p95} ms, p99 ${figures.p99} ms; ${swapsDuringLoad} replay swaps and ${eventsDuring} landed events meanwhile`);
    await sleep(10);
    return {
      scenario: 'API under load during sync + replay',
      form: opts.form,
      seed: opts.seed,
      durationMs: Date.now() - t0,
      killsSurvived: 0,
      faultsInjected: swapsDuringLoad,
      recordsChecked: times.length,
      mismatches: mismatches.length,
      connections: p.connections,
      seconds: p.seconds,
      endpoints: paths.length,
      ...figures,
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
      replaySwapsDuringLoad: swapsDuringLoad,
      syncRuns: syncs.length,
      eventsLandedDuringLoad: eventsDuring,
    };
  } finally {
    await cleanup.run();
  }
}
