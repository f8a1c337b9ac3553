/**
 * Ingest benchmark (issue: "landing costs at most 25 % over fetch-only, RSS flat").
 *   node --import tsx bench/ingest.ts [--size medium|none] [--rate-limited small|tiny|none]
 * Phase A, baseline: the client pages every entity (and fetches incomplete test details) and discards.
 * Phase B: the same through runSync, landing every page in Postgres. Same simulator, same run.
 * Phase C (default size small): the simulator's 300 / 60 s limit on, default budget; a full sync's wall
 * time against the floor that limit sets for its request count.
 */
import { createLogger, loadConfig } from '../core/index.js';
import { ENTITY_NAMES, makeClient, runSync, MemoryRateBudget, type QBenchClient } from '../ingest/index.js';
import { needsTestDetail } from '../ingest/client/index.js';
import { benchDatabase, simProcess, RssSampler, writeResult, arg } from './lib.js';

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

/** Phases A and B. */
async function fetchAgainstLand() {
  const rss = new RssSampler();
  rss.start(500);
  const sim = await simProcess(['--size', size, '--no-rate-limit']);
  const unlimited = () => new MemoryRateBudget({ limit: 1e9, windowMs: 1000 });
  const { db, drop } = await benchDatabase('bench_ingest');
  try {
    rss.setLabel('fetch');
    let t = performance.now();
    const fetched = await fetchOnly(makeClient(config, { baseUrl: sim.url, rateBudget: unlimited() }));
    const fetchMs = performance.now() - t;

    rss.setLabel('land');
    t = performance.now();
    const out = await runSync({ db, logger, makeClient: (onEvent) => makeClient(config, { baseUrl: sim.url, onEvent, rateBudget: unlimited() }) }, { mode: 'full' });
    const landMs = performance.now() - t;
    const landed = out.entities.reduce((n, e) => n + e.records, 0);
    rss.stop();
    const landSamples = rss.samples.filter((s) => s.label === 'land').map((s) => s.rssMb);
    const result = {
      size,
      fetch_only: { records: fetched, seconds: +(fetchMs / 1000).toFixed(2), records_per_s: Math.round(fetched / (fetchMs / 1000)) },
      fetch_and_land: { records: landed, seconds: +(landMs / 1000).toFixed(2), records_per_s: Math.round(landed / (landMs / 1000)), status: out.status },
      ratio_land_over_fetch: +(landMs / fetchMs).toFixed(3),
      goal_ratio: 1.25,
      peak_rss_mb: { fetch_only: rss.peak('fetch'), fetch_and_land: rss.peak('land') },
      rss_during_land_first_quarter_vs_last_quarter_mb: [
        Math.max(...landSamples.slice(0, Math.max(1, landSamples.length >> 2))),
        Math.max(...landSamples.slice(-Math.max(1, landSamples.length >> 2))),
      ],
    };
    console.log(JSON.stringify(result, null, 2));
    writeResult(`ingest-${size}`, result);
  } finally {
    await sim.stop();
    await drop();
  }
}

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
