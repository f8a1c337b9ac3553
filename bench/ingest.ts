/**
 * Ingest benchmark (issue: "landing costs at most 25 % over fetch-only, RSS flat").
 *   node --import tsx bench/ingest.ts [--size medium|none] [--rate-limited small|tiny|none]
 * Phase A, baseline: the client pages every entity (and fetches incomplete test details) and discards.
 * Phase B: the same through runSync (without the parent recovery at its end), landing every page in Postgres, with this
 * machine's default number of body workers (QBSYNC_BODY_WORKERS); then again with the other setting (0 or 2) for
 * comparison. Same simulator, same run. Then a whole full sync, recovery included. Each phase prints its CPU seconds
 * per process (client, its JavaScript thread, simulator, Postgres): on a machine they share, they explain the ratio.
 * Phase C (default size small): the simulator's 300 / 60 s limit on, default budget; a full sync's wall
 * time against the floor that limit sets for its request count.
 */
import { createLogger, loadConfig } from '../core/index.js';
import os from 'node:os';
import type { Database } from '../core/database.js';
import { ENTITY_NAMES, makeClient, runSync, MemoryRateBudget, type QBenchClient, type SyncOutcome } from '../ingest/index.js';
import { needsTestDetail } from '../ingest/client/index.js';
import { benchDatabase, simProcess, RssSampler, CpuMeter, postmasterPid, writeResult, arg } from './lib.js';

const size = arg('size', 'medium');
const limited = arg('rate-limited', 'small');
const config = loadConfig({});
const logger = createLogger({ level: 'warn' });

async function fetchOnly(client: QBenchClient): Promise<number> {
  let records = 0;
  for (const entity of ENTITY_NAMES) {
    for await (const page of client.paginate(entity, { sortBy: 'id', sortOrder: 'asc', prefetch: 3 })) {
      if (page.skipped) continue;
      records += page.data.length;
      if (entity === 'tests') {
        const ids = page.data.filter(needsTestDetail).map((t) => (t as { id: number }).id);
        await Promise.all(ids.map((id) => client.getDetail('tests', id)));
      }
    }
  }
  return records;
}

async function main() {
  if (size !== 'none') await fetchAgainstLand();
  if (limited !== 'none') await rateLimited();
}

/**
 * Phases A and B, then B2: the same full sync as `qbsync sync --full` runs it (parent recovery at the end, the raw
 * index following the landings for it), into a fresh database, for the whole command's figure.
 */
async function fetchAgainstLand() {
  const rss = new RssSampler();
  rss.start(500);
  const sim = await simProcess(['--size', size, '--no-rate-limit']);
  const unlimited = () => new MemoryRateBudget({ limit: 1e9, windowMs: 1000 });
  const sync = (db: Database, recover: boolean, bodyWorkers: number) => runSync({
    db, logger, recoverParents: recover, bodyWorkers,
    makeClient: (onEvent) => makeClient(config, { baseUrl: sim.url, onEvent, rateBudget: unlimited() }),
  }, { mode: 'full' });
  // This machine's default number of body workers (config.ts), and the other setting for comparison.
  const workers = config.bodyWorkers;
  const otherWorkers = workers ? 0 : 2;
  /** The database of the phase in progress (each phase that lands gets a fresh one). */
  const current: { drop?: () => Promise<void> } = {};
  const fresh = async () => {
    await current.drop?.();
    const bench = await benchDatabase('bench_ingest');
    current.drop = bench.drop;
    return { db: bench.db, cpu: new CpuMeter({ simulator: sim.child.pid, postgres: postmasterPid(bench.dataDir) }) };
  };
  try {
    let b = await fresh();
    const fetch = await phase(rss, b.cpu, 'fetch', () => fetchOnly(makeClient(config, { baseUrl: sim.url, rateBudget: unlimited() })));
    // Landing: the sync without its last step, the parent recovery (the full sync below has it).
    const land = await phase(rss, b.cpu, 'land', () => sync(b.db, false, workers));
    b = await fresh();
    const other = await phase(rss, b.cpu, 'land-other', () => sync(b.db, false, otherWorkers));
    b = await fresh();
    const full = await phase(rss, b.cpu, 'sync', () => sync(b.db, true, workers));
    rss.stop();

    const cores = os.availableParallelism();
    const fetchS = fetch.ms / 1000;
    const records = (o: SyncOutcome) => o.entities.reduce((n, e) => n + e.records, 0);
    const landing = (p: typeof land, bodyWorkers: number) => ({
      body_workers: bodyWorkers,
      records: records(p.out), seconds: secs(p.ms), records_per_s: Math.round(records(p.out) / (p.ms / 1000)), status: p.out.status,
      ratio_over_fetch: +(p.ms / fetch.ms).toFixed(3),
      cpu_seconds: p.cpu,
      // The fastest this landing could go here: its CPU seconds (client, simulator and Postgres together) spread over
      // every core with none ever idle. Above the goal, only less CPU work can meet it on this machine, not more overlap.
      ratio_if_every_core_busy: +((p.cpu.total / cores) / fetchS).toFixed(3),
      // The fastest it could go with as many cores as it likes: the JavaScript thread's own CPU seconds, back to back.
      ratio_if_main_thread_never_waits: p.cpu.client_main_thread === null ? null : +(p.cpu.client_main_thread / fetchS).toFixed(3),
    });
    const landSamples = rss.samples.filter((s) => s.label === 'land').map((s) => s.rssMb);
    const result = {
      size,
      cores,
      fetch_only: { records: fetch.out, seconds: secs(fetch.ms), records_per_s: Math.round(fetch.out / fetchS), cpu_seconds: fetch.cpu },
      fetch_and_land: landing(land, workers),
      ratio_land_over_fetch: +(land.ms / fetch.ms).toFixed(3),
      goal_ratio: 1.25,
      [`fetch_and_land_with_${otherWorkers}_body_workers`]: landing(other, otherWorkers),
      full_sync_with_parent_recovery: {
        records: records(full.out), seconds: secs(full.ms), status: full.out.status, missing_parents: full.out.recovery?.missing ?? null,
        ratio_over_fetch: +(full.ms / fetch.ms).toFixed(3), cpu_seconds: full.cpu,
      },
      peak_rss_mb: { fetch_only: rss.peak('fetch'), fetch_and_land: rss.peak('land'), [`with_${otherWorkers}_body_workers`]: rss.peak('land-other'), full_sync: rss.peak('sync') },
      rss_during_land_first_quarter_vs_last_quarter_mb: [
        Math.max(...landSamples.slice(0, Math.max(1, landSamples.length >> 2))),
        Math.max(...landSamples.slice(-Math.max(1, landSamples.length >> 2))),
      ],
    };
    console.log(JSON.stringify(result, null, 2));
    writeResult(`ingest-${size}`, result);
  } finally {
    await sim.stop();
    await current.drop?.();
  }
}

/** Runs one phase under its RSS label and returns its result, wall milliseconds and CPU seconds. */
async function phase<T>(rss: RssSampler, cpu: CpuMeter, label: string, fn: () => Promise<T>): Promise<{ out: T; ms: number; cpu: ReturnType<CpuMeter['since']> }> {
  rss.setLabel(label);
  const c0 = cpu.read();
  const t = performance.now();
  const out = await fn();
  return { out, ms: performance.now() - t, cpu: cpu.since(c0) };
}

const secs = (ms: number) => +(ms / 1000).toFixed(2);

/** Phase C. */
async function rateLimited() {
  const simL = await simProcess(['--size', limited]);
  const { db: dbL, drop: dropL } = await benchDatabase('bench_ingest_limited');
  try {
    const t = performance.now();
    const out = await runSync({ db: dbL, logger, makeClient: (onEvent) => makeClient(config, { baseUrl: simL.url, onEvent }) }, { mode: 'full' });
    const secs = (performance.now() - t) / 1000;
    // The limit lets 300 requests through in any 60 s: request n (1-based) cannot start before floor((n-1)/300)·60 s.
    const floor = Math.floor((out.requests - 1) / 300) * 60;
    const result = {
      size: limited, requests: out.requests, rate_limited_429s: out.rateLimited, seconds: +secs.toFixed(1), floor_seconds: floor,
      ratio_to_floor: floor ? +(secs / floor).toFixed(3) : null, goal_ratio: 1.05,
    };
    console.log(JSON.stringify(result, null, 2));
    writeResult(`ingest-rate-limited-${limited}`, result);
  } finally {
    await simL.stop();
    await dropL();
  }
}

await main();
