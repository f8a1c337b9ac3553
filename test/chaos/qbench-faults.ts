/**
 * Scenario 3: QBench misbehaving for a while — every request answered 5xx, every request 429 (a rate-limit
 * storm), connections that hang, bodies that are garbage — then recovering. Real `qbsync sync` processes run
 * through each outage (short form: seconds, long form: minutes):
 * - a run backs off and either rides the outage out (it is shorter than the retry budget) or fails with a clear
 *   one-line error and its run row says what happened (error text, retries / rate_limited counters);
 * - a process never crashes (no stack trace; garbage bodies included) and no run is left `running`;
 * - once QBench recovers, the next sync completes, and at the end raw holds every simulator id with no page
 *   landed twice within a pass.
 * Then, in-process with a fast client (a retry budget of about 3 s), an outage that outlasts the budget: the
 * run ends `failed` with the error and its counters recorded, and the following sync completes.
 */
import { expect } from 'chai';
import { createLogger } from '../../core/index.js';
import { makeClient, MemoryRateBudget, runSync } from '../../ingest/index.js';
import type { FaultOptions, SimSize } from '../../sim/index.js';
import { createTestDatabase } from '../helpers/pg.js';
import { testSimulator, cliEnv } from '../helpers/sim.js';
import type { CliResult } from '../helpers/cli.js';
import { FAST, testConfig } from '../helpers/jobs.js';
import {
  Cleanup, expectCleanFailure, fullPassDuplicates, logger, rawAgainstTruth, runCliWithin, rng, sleep, stackTrace, type ChaosOptions, type Figures,
} from './lib.js';

const PRESETS = {
  short: { size: 'tiny' as SimSize, outageMs: 2_500, latencyMs: 5 },
  long: { size: 'small' as SimSize, outageMs: 90_000, latencyMs: 2 },
};

interface FaultKind {
  name: string;
  faults: FaultOptions;
  /** The run row counter that must move. */
  counter: 'retries' | 'rate_limited';
  /** What a failed run's error must name. */
  error: RegExp;
}

const KINDS: FaultKind[] = [
  { name: 'all 5xx', faults: { errorRate: 1 }, counter: 'retries', error: /HTTP 50[023]/ },
  { name: 'all 429 (rate-limit storm)', faults: { rateLimitStorm: true }, counter: 'rate_limited', error: /429|rate limit/i },
  { name: 'hanging connections', faults: { hangRate: 1 }, counter: 'retries', error: /no complete response within|timed out/i },
  { name: 'garbage bodies', faults: { malformedRate: 1 }, counter: 'retries', error: /not valid JSON|body/i },
];

interface RunRow {
  run_id: string;
  status: string;
  error: string | null;
  retries: number;
  rate_limited: number;
  requests: number;
}

export async function runQBenchFaultScenario(opts: ChaosOptions): Promise<Figures> {
  const t0 = Date.now();
  const p = PRESETS[opts.form];
  const log = logger(opts, 'qbench-faults');
  const r = rng(opts.seed);
  const cleanup = new Cleanup();
  try {
    const db = await createTestDatabase();
    cleanup.add(() => db.drop());
    const sim = await testSimulator({ size: p.size, seed: opts.seed });
    cleanup.add(() => sim.close());
    sim.setFaults({ latencyMs: p.latencyMs });
    // A 2 s request timeout so hanging connections cost seconds, not the default 30.
    const env = cliEnv(db.url, sim, { QBSYNC_LOG_LEVEL: 'warn', QBENCH_TIMEOUT_SECONDS: '2' });
    const runsSince = async (since: Date) =>
      (await db.pool.query<RunRow>(
        `SELECT run_id, status, error, retries, rate_limited, requests FROM qbsync.sync_runs WHERE created_at >= $1 AND mode <> 'backfill' ORDER BY created_at`, [since],
      )).rows;

    // The order of the outages and their exact lengths come from the seed.
    const kinds = [...KINDS].sort(() => r.next() - 0.5);
    const phases: Array<Record<string, unknown>> = [];
    let faultsInjected = 0;
    let first = true;
    for (const kind of kinds) {
      const outageMs = Math.round(p.outageMs * (0.8 + 0.4 * r.next()));
      const phaseStart = new Date(Date.now() - 1000); // created_at is the database's clock; allow for a little skew
      sim.setFaults({ latencyMs: p.latencyMs, ...kind.faults });
      faultsInjected++;
      // The outage lasts outageMs from the first request it answers (a CLI takes a moment to start).
      const base = sim.stats().requests;
      let outageEnds = Infinity;
      let recover: NodeJS.Timeout | undefined;
      const watch = setInterval(() => {
        if (outageEnds !== Infinity || sim.stats().requests === base) return;
        outageEnds = Date.now() + outageMs;
        recover = setTimeout(() => sim.setFaults({ latencyMs: p.latencyMs }), outageMs);
      }, 20);
      cleanup.add(() => {
        clearInterval(watch);
        clearTimeout(recover);
      });
      const results: CliResult[] = [];
      const errors: string[] = [];
      // Sync again and again: during the outage each run backs off and ends one way or the other; the first
      // run started after QBench recovered (or one that was running when it did) must complete.
      for (let attempt = 1; ; attempt++) {
        const startedAfterRecovery = Date.now() >= outageEnds;
        const res = await runCliWithin(['sync', '--wait', ...(first ? ['--full'] : [])], env, p.outageMs * 3 + 120_000);
        results.push(res);
        expect(stackTrace(res.stdout + res.stderr), `${kind.name}: no stack trace\n${res.stderr.slice(-3000)}`).to.equal(null);
        if (res.code === 0) {
          first = false;
          if (Date.now() >= outageEnds) break;
          continue; // finished inside the outage window (e.g. between faulty requests): go again
        }
        errors.push(expectCleanFailure(res, `${kind.name}: sync ${attempt}`));
        expect(startedAfterRecovery, `${kind.name}: a sync started after QBench recovered failed: ${errors[errors.length - 1]}`).to.equal(false);
        expect(attempt, `${kind.name}: syncs before one completed`).to.be.below(40);
      }
      clearInterval(watch);
      clearTimeout(recover);
      sim.setFaults({ latencyMs: p.latencyMs });
      const runs = await runsSince(phaseStart);
      expect(runs.length, `${kind.name}: runs recorded`).to.be.at.least(results.length);
      for (const run of runs) {
        expect(run.status, `${kind.name}: run ${run.run_id} is not left running`).to.be.oneOf(['succeeded', 'partial', 'failed']);
        if (run.status === 'failed') expect(run.error ?? '', `${kind.name}: run ${run.run_id}'s error names the problem`).to.match(kind.error);
      }
      const total = (k: 'retries' | 'rate_limited' | 'requests') => runs.reduce((a, x) => a + x[k], 0);
      expect(total(kind.counter), `${kind.name}: the runs' ${kind.counter} counters show what happened`).to.be.greaterThan(0);
      const failed = runs.filter((x) => x.status === 'failed').length;
      const phase = {
        fault: kind.name, outageMs, syncs: results.length, failedRuns: failed, retries: total('retries'), rateLimited: total('rate_limited'),
        requests: total('requests'), firstError: runs.find((x) => x.error)?.error ?? null,
      };
      phases.push(phase);
      log(`${kind.name} for ${(outageMs / 1000).toFixed(1)} s: ${results.length} sync(s), ${failed} failed then recovered; ${phase.retries} retries, ${phase.rateLimited} rate-limited${phase.firstError ? `; error: ${String(phase.firstError).slice(0, 160)}` : ''}`);
    }

    // An outage longer than the retry budget (in-process, fast backoff): the run fails, says why, the next completes.
    const quiet = createLogger({ level: 'error', console: false });
    const budget = new MemoryRateBudget({ limit: 1e6, windowMs: 1000 });
    const sync = () => runSync(
      { db, logger: quiet, makeClient: (onEvent) => makeClient(testConfig(), { baseUrl: sim.url, logger: quiet, onEvent, rateBudget: budget, overrides: FAST }) },
      { mode: 'full', entities: ['tests'] },
    );
    const beyond: Array<Record<string, unknown>> = [];
    for (const kind of [KINDS[0], KINDS[3]]) {
      sim.setFaults({ latencyMs: p.latencyMs, ...kind.faults });
      faultsInjected++;
      const out = await sync(); // the outage lasts until the run gives up
      sim.setFaults({ latencyMs: p.latencyMs });
      expect(out.status, `${kind.name} beyond the retry budget`).to.equal('failed');
      expect(out.error ?? '', `${kind.name}: the run's error`).to.match(kind.error);
      const { rows: [row] } = await db.pool.query<RunRow>(`SELECT status, error, retries, rate_limited, requests FROM qbsync.sync_runs WHERE run_id = $1`, [out.runId]);
      expect(row.status).to.equal('failed');
      expect(row.error ?? '').to.match(kind.error);
      expect(row.retries, `${kind.name}: retries recorded on the failed run`).to.be.greaterThan(0);
      const next = await sync();
      expect(next.status, `${kind.name}: the sync after the outage`).to.equal('succeeded');
      beyond.push({ fault: kind.name, failedRunError: row.error, retries: row.retries, nextRun: next.status });
      log(`${kind.name} beyond the retry budget: run failed (${row.retries} retries, "${String(row.error).slice(0, 120)}"); the next sync succeeded`);
      await sleep(10);
    }

    const raw = await rawAgainstTruth(db.pool, sim);
    const dup = await fullPassDuplicates(db.pool);
    const mismatches = [...raw.mismatches, ...dup.map((d) => `full pass ${d.pass}: ${d.entity} page ${d.page_number} landed ${d.n} times`)];
    const { rows: running } = await db.pool.query(`SELECT run_id FROM qbsync.sync_runs WHERE status = 'running'`);
    mismatches.push(...running.map((x) => `run ${x.run_id} left running`));
    expect(mismatches).to.deep.equal([]);
    const stats = sim.stats();
    return {
      scenario: 'QBench misbehaving (5xx, 429 storm, hangs, garbage)',
      form: opts.form,
      seed: opts.seed,
      durationMs: Date.now() - t0,
      killsSurvived: 0,
      faultsInjected,
      recordsChecked: raw.checked,
      mismatches: mismatches.length,
      phases,
      beyondRetryBudget: beyond,
      simulator: { requests: stats.requests, byStatus: stats.byStatus },
    };
  } finally {
    await cleanup.run();
  }
}
