/**
 * Scenario 1: kill -9, many times over one run. Real CLI processes — `qbsync sync`, `qbsync worker` (working a
 * queued sync, a backfill's chunks and the transform jobs landings queue) and `qbsync transform` — are started
 * one after another and killed with SIGKILL after a random delay or a random number of newly landed events
 * (the plan comes from the seed). Then the run is finished the ordinary way (a sync, the same backfill command,
 * a transform) and compared with an uninterrupted run of the same simulator seed into a second database:
 * - every typed table and rollup equal (tableChecksums without the fetch-id columns);
 * - every simulator id in raw; no full-pass list page landed twice within its pass;
 * - every backfill chunk done once: one done row per planned chunk, its pages landed once, volumetry agrees;
 * - no run left `running`.
 */
import { expect } from 'chai';
import { createLogger } from '../../core/index.js';
import { startBoss } from '../../core/boss.js';
import { makeClient, MemoryRateBudget, planBackfill, runChunk, finalizeBackfill, runSync, type EntityName } from '../../ingest/index.js';
import { enqueueBackfill, enqueueSync, applyTransforms } from '../../jobs/index.js';
import { runTransforms } from '../../transform/index.js';
import type { SimEntity, SimSize, Simulator } from '../../sim/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator, cliEnv } from '../helpers/sim.js';
import { startCli } from '../helpers/cli.js';
import { V1 } from '../helpers/raw.js';
import { FAST, testConfig, truthIdsInRange, rawIdsInRange } from '../helpers/jobs.js';
import {
  backfillChunkCheck, checksumDiff, Cleanup, contentChecksums, countEvents, fullPassDuplicates, fullPassPages, logger, rawAgainstTruth, runCliWithin, restartedPasses, rng, sleep,
  typedRows, CORE, type ChaosOptions, type Figures,
} from './lib.js';

const PRESETS = {
  short: { size: 'tiny' as SimSize, pageSize: 10, rounds: 6, latencyMs: 20, backfillDays: 150, chunkDays: 30, maxRoundMs: 6_000, maxDelayMs: 3_000, cliLimitMs: 90_000 },
  long: { size: 'small' as SimSize, pageSize: 25, rounds: 40, latencyMs: 10, backfillDays: 240, chunkDays: 15, maxRoundMs: 12_000, maxDelayMs: 4_000, cliLimitMs: 900_000 },
};

type Kind = 'sync' | 'worker' | 'transform';
interface Round {
  kind: Kind;
  /** Kill after this many ms, or once this many new events landed (whichever the plan says), capped by maxRoundMs. */
  trigger: { delayMs: number } | { events: number };
}

export function killPlan(seed: number, rounds: number, maxDelayMs = 4_000): Round[] {
  const r = rng(seed);
  return Array.from({ length: rounds }, (_, i): Round => {
    // The first round starts the full pass, so later kinds always find a pass or chunks to interrupt.
    const kind: Kind = i === 0 ? 'sync' : r.pick(['sync', 'sync', 'worker', 'worker', 'transform'] as const);
    const byEvents = kind !== 'transform' && r.next() < 0.5;
    return { kind, trigger: byEvents ? { events: r.int(2, 40) } : { delayMs: r.int(kind === 'transform' ? 600 : 900, maxDelayMs) } };
  });
}

const describeRound = (x: Round) => `${x.kind} ${'events' in x.trigger ? `+${x.trigger.events} events` : `${x.trigger.delayMs} ms`}`;

export async function runKillScenario(opts: ChaosOptions): Promise<Figures> {
  const t0 = Date.now();
  const p = PRESETS[opts.form];
  const log = logger(opts, 'kills');
  const cleanup = new Cleanup();
  try {
    const db: TestDatabase = await createTestDatabase();
    cleanup.add(() => db.drop());
    const sim: Simulator = await testSimulator({ size: p.size, seed: opts.seed });
    cleanup.add(() => sim.close());
    sim.setFaults({ latencyMs: p.latencyMs });
    const env = cliEnv(db.url, sim, { QBSYNC_LOG_LEVEL: 'warn', QBENCH_PAGE_SIZE: String(p.pageSize) });
    const to = new Date(Date.UTC(sim.now().getUTCFullYear(), sim.now().getUTCMonth(), sim.now().getUTCDate()));
    const from = new Date(to.getTime() - p.backfillDays * 86_400_000);
    const day = (d: Date) => d.toISOString().slice(0, 10);
    const backfillArgs = ['backfill', '--from', day(from), '--to', day(to), '--chunk-days', String(p.chunkDays)];

    // Work for the workers: a queued sync (a full pass, nothing synced yet) and the backfill's chunk jobs.
    const boss = await startBoss(db.url);
    const queued = await enqueueSync(db, boss, { mode: 'incremental', requestedBy: 'chaos' });
    const bf = await enqueueBackfill(db, boss, { from, to, chunkDays: p.chunkDays, pageSize: p.pageSize, requestedBy: 'chaos' });
    await boss.stop({ graceful: false, wait: true });
    log(`seed ${opts.seed}: ${p.size} lab, page size ${p.pageSize}; queued sync ${queued.runId}, backfill ${bf.runId} (${bf.all.length} chunks)`);

    const plan = killPlan(opts.seed, p.rounds, p.maxDelayMs);
    const outcomes: string[] = [];
    let kills = 0;
    let firstSync = true;
    for (const [i, round] of plan.entries()) {
      const args = round.kind === 'sync' ? ['sync', '--wait', ...(firstSync ? ['--full'] : [])] : round.kind === 'worker' ? ['worker', '--concurrency', '2'] : ['transform'];
      if (round.kind === 'sync') firstSync = false;
      const before = await countEvents(db.pool);
      const { child, done } = startCli(args, env);
      let exited = false;
      void done.then(() => (exited = true));
      const deadline = Date.now() + ('delayMs' in round.trigger ? round.trigger.delayMs : p.maxRoundMs);
      while (!exited && Date.now() < deadline) {
        if ('events' in round.trigger && (await countEvents(db.pool)) - before >= round.trigger.events) break;
        await sleep(25);
      }
      if (!exited) child.kill('SIGKILL');
      const r = await done;
      const landed = (await countEvents(db.pool)) - before;
      if (r.signal === 'SIGKILL') {
        kills++;
        outcomes.push(`${i + 1}. ${describeRound(round)}: killed after ${landed} new events`);
      } else {
        // Finished on its own before the kill point: it must have succeeded.
        expect(r.code, `round ${i + 1} (${describeRound(round)}) exited by itself: ${r.stderr.slice(-2000)}`).to.equal(0);
        outcomes.push(`${i + 1}. ${describeRound(round)}: finished first (${landed} new events)`);
      }
      log(outcomes[outcomes.length - 1]);
    }
    expect(kills, `kills that landed mid-run:\n${outcomes.join('\n')}`).to.be.at.least(Math.ceil(p.rounds / 2));

    // Finish the ordinary way: the next sync resumes the pass, the same backfill command finishes the chunks.
    const fin = await runCliWithin(['sync', '--wait'], env, p.cliLimitMs);
    expect(fin.code, `final sync: ${fin.stderr.slice(-2000)}`).to.equal(0);
    const bfFin = await runCliWithin(backfillArgs, env, p.cliLimitMs);
    expect(bfFin.code, `final backfill: ${bfFin.stdout}\n${bfFin.stderr.slice(-2000)}`).to.equal(0);
    expect(bfFin.stdout, 'the same backfill, resumed').to.include(`backfill ${bf.runId}`);
    const tr = await runCliWithin(['transform'], env, p.cliLimitMs);
    expect(tr.code, `final transform: ${tr.stderr.slice(-2000)}`).to.equal(0);

    // The uninterrupted run: same simulator seed, a second database, the same work without kills.
    const base = await createTestDatabase();
    cleanup.add(() => base.drop());
    const sim2 = await testSimulator({ size: p.size, seed: opts.seed });
    cleanup.add(() => sim2.close());
    await uninterrupted(base, sim2, { from, to, chunkDays: p.chunkDays, pageSize: p.pageSize });

    // Compare.
    const mismatches: string[] = [];
    const raw = await rawAgainstTruth(db.pool, sim);
    mismatches.push(...raw.mismatches);
    // One full pass per entity however often it was killed (later syncs are incremental): every page once.
    const dup = await fullPassDuplicates(db.pool, 'all');
    mismatches.push(...dup.map((d) => `full pass: ${d.entity} page ${d.page_number} landed ${d.n} times`));
    mismatches.push(...(await restartedPasses(db.pool)));
    const chunks = await backfillChunkCheck(db.pool, bf.runId);
    mismatches.push(...chunks.problems);
    expect(chunks.chunks, 'chunk rows').to.equal(bf.all.length);
    let rangeIds = 0;
    for (const e of CORE) {
      const truth = truthIdsInRange(sim, V1[e] as SimEntity, from, to);
      const got = await rawIdsInRange(db.pool, e, from, to);
      rangeIds += truth.length;
      const have = new Set(got);
      const missing = truth.filter((id) => !have.has(id));
      if (missing.length) mismatches.push(`backfill range: ${missing.length} ${e} created in range missing`);
    }
    const { rows: [bfRow] } = await db.pool.query(`SELECT status, volumetry FROM qbsync.backfills WHERE backfill_id = $1`, [bf.runId]);
    if (bfRow.status !== 'succeeded') mismatches.push(`backfill ${bf.runId} is ${bfRow.status}`);
    if (!bfRow.volumetry?.agree) mismatches.push(`backfill volumetry disagrees: ${JSON.stringify(bfRow.volumetry?.entities)}`);
    const { rows: running } = await db.pool.query(`SELECT run_id, mode FROM qbsync.sync_runs WHERE status = 'running'`);
    mismatches.push(...running.map((r) => `run ${r.run_id} (${r.mode}) left running`));
    const { rows: passes } = await db.pool.query(`SELECT entity, status FROM qbsync.checkpoints WHERE status <> 'completed'`);
    mismatches.push(...passes.map((c) => `${c.entity}: pass left ${c.status}`));
    const got = await contentChecksums(db);
    const want = await contentChecksums(base);
    mismatches.push(...checksumDiff(got, want).map((d) => `typed table differs from the uninterrupted run: ${d}`));
    expect(mismatches, `seed ${opts.seed}; rounds:\n${outcomes.join('\n')}`).to.deep.equal([]);
    expect(typedRows(want), 'the uninterrupted run filled the typed tables').to.be.greaterThan(0);

    const figures: Figures = {
      scenario: 'kill -9 (sync, worker, transform)',
      form: opts.form,
      seed: opts.seed,
      durationMs: Date.now() - t0,
      killsSurvived: kills,
      faultsInjected: kills,
      recordsChecked: raw.checked + rangeIds + typedRows(got) + chunks.chunks + (await fullPassPages(db.pool)) + chunks.pages,
      mismatches: mismatches.length,
      rounds: plan.length,
      byKind: Object.fromEntries((['sync', 'worker', 'transform'] as const).map((k) => [k, outcomes.filter((o) => o.includes(`. ${k} `) && o.includes('killed')).length])),
      backfillChunks: chunks.chunks,
      typedRows: typedRows(got),
      plan: outcomes,
    };
    log(`${kills} kills survived of ${plan.length} rounds; ${figures.recordsChecked} records checked, 0 mismatches`);
    return figures;
  } finally {
    await cleanup.run();
  }
}

/** The same work without interruptions, in-process: full sync, the backfill, an incremental sync, transforms. */
async function uninterrupted(db: TestDatabase, sim: Simulator, b: { from: Date; to: Date; chunkDays: number; pageSize: number }): Promise<void> {
  const logger = createLogger({ level: 'error', console: false });
  const config = testConfig();
  const budget = new MemoryRateBudget({ limit: 1e6, windowMs: 1000 });
  const mk = (onEvent?: Parameters<typeof makeClient>[1]['onEvent']) => makeClient(config, { baseUrl: sim.url, logger, onEvent, rateBudget: budget, overrides: FAST });
  const sync = (mode: 'full' | 'incremental') => runSync({ db, logger, pageSize: b.pageSize, makeClient: mk }, { mode });
  expect((await sync('full')).status).to.equal('succeeded');
  const plan = await planBackfill(db, { from: b.from, to: b.to, chunkDays: b.chunkDays, pageSize: b.pageSize });
  const deps = { db, logger, makeClient: mk, transform: (t: EntityName[]) => applyTransforms(db, t, { logger, timezone: 'UTC' }) };
  for (const c of plan.open) expect((await runChunk(deps, c.chunk_id)).state).to.equal('done');
  await finalizeBackfill(deps, plan.backfill.backfill_id);
  expect((await sync('incremental')).status).to.equal('succeeded');
  await runTransforms(db, { timezone: 'UTC', logger });
}
