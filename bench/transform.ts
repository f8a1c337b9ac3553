/**
 * Transform benchmark (issue "Transforms, replay": replay within 1.5x of a plain CREATE TABLE … AS SELECT).
 *   node --import tsx bench/transform.ts [--size medium|large] [--batch-records N] [--rounds 3]
 *
 * 1. Lands `size` from the simulator (child process, its rate limit off) with a full sync of every entity.
 * 2. Baseline: for every target, CREATE TABLE … AS SELECT DISTINCT ON (id) of the same typed projection (the
 *    target file's own typed expressions and parse_errors, from the same raw rows): no batches, no upsert,
 *    no same-version merge, no indexes, no rollups, no swap.
 * 3. replay(): every typed table and rollup rebuilt from raw into qbench_next (bounded batches, upserts,
 *    indexes, rollups, ANALYZE) and swapped in. Baseline and replay run --rounds times (3), interleaved, after
 *    VACUUM ANALYZE + CHECKPOINT of the landed raw tables; the ratio is total replay over total baseline time
 *    (the median round's ratio and the build-phase-only ratio are printed too).
 * 4. Incremental: the simulator advances one hour, an incremental sync of tests lands one Updates page, and
 *    runTransforms applies it (timed); then a run with nothing to do (the fixed cost).
 * Peak RSS is this process's (the simulator runs in its own process), sampled every 100 ms.
 */
import { createLogger, loadConfig } from '../core/index.js';
import { makeClient, runSync, MemoryRateBudget } from '../ingest/index.js';
import { replay, runTransforms, TARGETS, tableChecksums } from '../transform/index.js';
import { sqlFile } from '../transform/runner.js';
import { arg, benchDatabase, RssSampler, simProcess, writeResult } from './lib.js';

const size = arg('size', 'medium');
const batchRecords = Number(arg('batch-records', '50000'));
const rounds_n = Number(arg('rounds', '3'));
const config = loadConfig({});
const logger = createLogger({ level: 'warn' });

/** The baseline for one target: its typed projection over the newest version per id, as one CTAS. */
function baselineSql(target: string, schema: string): string {
  const text = sqlFile(target);
  const selStart = text.indexOf('  SELECT i.id, ');
  const selEnd = text.indexOf('\n  ON CONFLICT (id)', selStart);
  if (selStart < 0 || selEnd < 0) throw new Error(`cannot find the projection in ${target}.sql`);
  return `CREATE TABLE ${schema}.${target} AS
WITH src AS (
  SELECT DISTINCT ON (id) id, lu, fetch_id, NULL::timestamptz AS deleted_at, rec
  FROM (SELECT qbsync.to_bigint(r.rec ->> 'id') AS id, qbsync.parse_ts(r.rec ->> 'last_updated') AS lu, f.id AS fetch_id, r.rec
        FROM raw.fetches f
        JOIN raw.page_bodies b ON b.sha256 = f.body_sha256
        CROSS JOIN LATERAL jsonb_array_elements(qbsync.records_of(f.kind, b.body)) AS r(rec)
        WHERE f.entity = '${target}' AND jsonb_typeof(r.rec) = 'object') v
  WHERE id IS NOT NULL
  ORDER BY id, lu DESC NULLS LAST, fetch_id DESC
)
${text.slice(selStart, selEnd).replace('FROM incoming i', 'FROM src i')}`;
}

const secs = (ms: number) => +(ms / 1000).toFixed(2);

async function main() {
  const rss = new RssSampler();
  rss.start(100);
  const sim = await simProcess(['--size', size, '--no-rate-limit']);
  const unlimited = () => new MemoryRateBudget({ limit: 1e9, windowMs: 1000 });
  const { db, drop } = await benchDatabase('bench_transform');
  const sync = (mode: 'full' | 'incremental', entities?: Array<(typeof TARGETS)[number]>) =>
    runSync({ db, logger, makeClient: (onEvent) => makeClient(config, { baseUrl: sim.url, onEvent, rateBudget: unlimited() }) }, { mode, entities });
  try {
    rss.setLabel('land');
    let t = performance.now();
    const landed = await sync('full', [...TARGETS]);
    const landMs = performance.now() - t;
    const { rows: [raw] } = await db.pool.query(
      `SELECT count(*)::int AS fetches, sum(record_count)::int AS records, pg_size_pretty(sum(b.bytes)) AS body_bytes
       FROM raw.fetches f JOIN raw.page_bodies b ON b.sha256 = f.body_sha256`,
    );
    console.log(`landed ${size}: ${raw.records} records in ${raw.fetches} fetches (${raw.body_bytes} of bodies) in ${secs(landMs)} s, ${landed.status}`);

    const baseline = async (round: number) => {
      const schema = `bench_baseline_${round}`;
      await db.pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
      const t0 = performance.now();
      const client = await db.pool.connect();
      try {
        await client.query(`SET search_path = qbench`);
        for (const target of TARGETS) await client.query(baselineSql(target, schema));
      } finally {
        client.release();
      }
      const ms = performance.now() - t0;
      await db.pool.query(`DROP SCHEMA ${schema} CASCADE`);
      return ms;
    };
    const replayOnce = async () => {
      const t0 = performance.now();
      const r = await replay(db, { logger, timezone: 'UTC', batchRecords });
      return { ms: performance.now() - t0, r };
    };

    // Settle the freshly landed raw tables (autovacuum would otherwise run during the first round) and warm
    // their pages into cache, so neither arm pays for it alone.
    await db.pool.query('VACUUM ANALYZE raw.fetches');
    await db.pool.query('VACUUM ANALYZE raw.page_bodies');
    await db.pool.query('CHECKPOINT');
    await db.pool.query(`SELECT count(*) FROM raw.fetches f JOIN raw.page_bodies b ON b.sha256 = f.body_sha256, jsonb_array_elements(qbsync.records_of(f.kind, b.body))`);

    const rounds: Array<{ baseline_s: number; replay_s: number; ratio: number; replay_build_s: number }> = [];
    let lastReplay: Awaited<ReturnType<typeof replayOnce>>['r'] | undefined;
    const rssBefore = Math.round(process.memoryUsage().rss / 1048576);
    for (let round = 1; round <= rounds_n; round++) {
      rss.setLabel('baseline');
      const b = await baseline(round);
      rss.setLabel('replay');
      const r = await replayOnce();
      lastReplay = r.r;
      rounds.push({ baseline_s: secs(b), replay_s: secs(r.ms), ratio: +(r.ms / b).toFixed(3), replay_build_s: secs(r.r.buildMs) });
      console.log(
        `round ${round}: baseline CTAS ${secs(b)} s, replay ${secs(r.ms)} s = ${(r.ms / b).toFixed(2)}x (build ${secs(r.r.buildMs)}, indexes ${secs(r.r.indexMs)}, ` +
          `rollups ${secs(r.r.rollupMs)}, analyze ${secs(r.r.analyzeMs)}, catch-up ${r.r.catchUpMs} ms, swap ${r.r.swapMs} ms, drop old ${r.r.cleanupMs} ms)`,
      );
    }
    const totalBase = rounds.reduce((n, r) => n + r.baseline_s, 0);
    const totalReplay = rounds.reduce((n, r) => n + r.replay_s, 0);
    const checksums = await tableChecksums(db);

    // One more page: an hour of changes, landed by an incremental sync of tests, then transformed.
    rss.setLabel('incremental');
    await fetch(`${sim.url}/_sim/advance`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hours: 1 }) });
    const inc = await sync('incremental', ['tests']);
    t = performance.now();
    const applied = await runTransforms(db, { logger, timezone: 'UTC' });
    const incMs = performance.now() - t;
    const tests = applied.targets.find((s) => s.target === 'tests')!;
    t = performance.now();
    await runTransforms(db, { logger, timezone: 'UTC' });
    const idleMs = performance.now() - t;
    rss.stop();

    const result = {
      size,
      raw: { fetches: raw.fetches, records: raw.records, body_bytes: raw.body_bytes },
      rows: Object.fromEntries(Object.entries(checksums).map(([k, v]) => [k, v.rows])),
      rounds,
      baseline_ctas_s: +(totalBase / rounds.length).toFixed(2),
      replay_s: +(totalReplay / rounds.length).toFixed(2),
      ratio_replay_over_baseline: +(totalReplay / totalBase).toFixed(3),
      ratio_median_round: [...rounds].sort((a, b) => a.ratio - b.ratio)[rounds.length >> 1].ratio,
      ratio_build_only: +(rounds.reduce((n, r) => n + r.replay_build_s, 0) / totalBase).toFixed(3),
      goal_ratio: 1.5,
      replay_phases_s: lastReplay && {
        build: secs(lastReplay.buildMs), indexes: secs(lastReplay.indexMs), rollups: secs(lastReplay.rollupMs), analyze: secs(lastReplay.analyzeMs),
        catch_up: secs(lastReplay.catchUpMs), swap: secs(lastReplay.swapMs), drop_old: secs(lastReplay.cleanupMs),
      },
      incremental_one_page: {
        sync_status: inc.status,
        fetches: tests.fetches,
        records: tests.records,
        inserted: tests.inserted,
        updated: tests.updated,
        seconds: secs(incMs),
        nothing_to_do_seconds: secs(idleMs),
      },
      peak_rss_mb: { process_before_replays: rssBefore, land: rss.peak('land'), baseline: rss.peak('baseline'), replay: rss.peak('replay'), incremental: rss.peak('incremental') },
      batch_records: batchRecords,
    };
    console.log(JSON.stringify(result, null, 2));
    writeResult(`transform-${size}`, result);
  } finally {
    await sim.stop();
    await drop();
  }
}

await main();
