/**
 * Scenario 2: Postgres restarts in the middle of a sync and of a replay. A dedicated embedded Postgres (its own
 * folder, .qbsync/chaos-pg-<pid>) is stopped with `pg_ctl -m fast` or `-m immediate` (a crash: no checkpoint,
 * recovery at the next start) while a real `qbsync sync` / `qbsync replay` runs against it, and started again
 * on the same port after a pause. The process must either reconnect and finish (exit 0) or exit with a clear
 * one-line error and no stack trace; the next run must complete with nothing lost: every simulator id in raw,
 * no page landed twice within a pass, and the replayed tables equal to what they were before. First, the sync
 * lock itself: held across a restart (taken again on a new connection), released after.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { connect, startEmbeddedPostgres, type Database, type EmbeddedPg } from '../../core/index.js';
import { acquireSyncLock, syncLockHeld } from '../../ingest/index.js';
import { tableChecksums } from '../../transform/index.js';
import type { SimSize } from '../../sim/index.js';
import { reapAbandonedServers } from '../helpers/pg.js';
import { testSimulator, cliEnv } from '../helpers/sim.js';
import { startCli, type CliResult } from '../helpers/cli.js';
import {
  checksumDiff, Cleanup, countEvents, expectCleanFailure, fullPassDuplicates, logger, rawAgainstTruth, runCliWithin, rng, sleep, typedRows, waitFor,
  type ChaosOptions, type Figures,
} from './lib.js';

const PRESETS = {
  short: { size: 'tiny' as SimSize, pageSize: 10, latencyMs: 10, syncRestarts: 2, replayRestarts: 2, maxDownMs: 1200, cliLimitMs: 60_000 },
  long: { size: 'small' as SimSize, pageSize: 25, latencyMs: 5, syncRestarts: 8, replayRestarts: 4, maxDownMs: 5000, cliLimitMs: 300_000 },
};

type Mode = 'fast' | 'immediate';

export async function runPgRestartScenario(opts: ChaosOptions): Promise<Figures> {
  const t0 = Date.now();
  // Dedicated servers left by chaos runs that were killed (or timed out under mocha's exit).
  reapAbandonedServers(path.resolve('.qbsync'), /^chaos-pg-(\d+)$/);
  const p = PRESETS[opts.form];
  const log = logger(opts, 'pg-restart');
  const r = rng(opts.seed);
  const cleanup = new Cleanup();
  const dir = path.resolve(`.qbsync/chaos-pg-${process.pid}`);
  const dataDir = path.join(dir, 'data');
  fs.rmSync(dir, { recursive: true, force: true });
  let server: EmbeddedPg | undefined;
  cleanup.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  cleanup.add(() => server?.stop('immediate'));
  try {
    server = await startEmbeddedPostgres({ dataDir, database: 'qbsync', fast: true });
    const port = server.port;
    const db: Database = await connect(server.url, undefined, { poolMax: 3 }); // migrates
    cleanup.add(() => db.close());
    const sim = await testSimulator({ size: p.size, seed: opts.seed });
    cleanup.add(() => sim.close());
    sim.setFaults({ latencyMs: p.latencyMs });
    const env = cliEnv(server.url, sim, { QBSYNC_LOG_LEVEL: 'warn', QBENCH_PAGE_SIZE: String(p.pageSize) });
    log(`seed ${opts.seed}: dedicated Postgres on port ${port}, ${p.size} lab`);

    let restarts = 0;
    const restart = async (mode: Mode, downMs: number) => {
      await server!.stop(mode);
      await sleep(downMs);
      server = await startEmbeddedPostgres({ dataDir, database: 'qbsync', fast: true, port });
      expect(server.port, 'started again on the same port').to.equal(port);
      restarts++;
    };
    const outcomes: string[] = [];
    const results = { reconnected: 0, failedCleanly: 0 };
    /** The process must finish or fail with one line; a hang is a failure too. */
    const settle = async (child: ReturnType<typeof startCli>, what: string): Promise<CliResult> => {
      const timer = setTimeout(() => child.child.kill('SIGKILL'), p.cliLimitMs);
      const res = await child.done;
      clearTimeout(timer);
      expect(res.signal, `${what}: hung after the restart (killed after ${p.cliLimitMs / 1000} s)\n${res.stderr.slice(-2000)}`).to.equal(null);
      if (res.code === 0) {
        results.reconnected++;
        return res;
      }
      expectCleanFailure(res, what);
      results.failedCleanly++;
      return res;
    };

    // ---------------------------------------------------------------------------------------------- the sync lock
    // A sync holds its lock on one connection for the whole run; a restart kills that connection (and the lock).
    // It must be taken again on a new connection once the server is back, and released at the end as usual.
    const held = async () => {
      try {
        return await syncLockHeld(db.pool);
      } catch {
        return false;
      }
    };
    const lock = await acquireSyncLock(db.pool);
    await restart('immediate', r.int(200, p.maxDownMs));
    await waitFor(held, 60_000, 'the sync lock to be taken again after the restart');
    await lock.ensureHeld();
    await lock.release();
    expect(await held(), 'released').to.equal(false);
    // Released while the server is still down (the run ended while its lock was being taken again): no error
    // (it was a double release of the dead connection), and the lock is not taken after its release.
    const lock2 = await acquireSyncLock(db.pool);
    await server.stop('immediate');
    await sleep(400);
    await lock2.release();
    server = await startEmbeddedPostgres({ dataDir, database: 'qbsync', fast: true, port });
    restarts++;
    await sleep(1500);
    expect(await held(), 'a released lock is not taken again').to.equal(false);
    outcomes.push('sync lock: taken again on a new connection after an immediate restart, then released; released while the server was down: no error, not taken again');
    log(outcomes[outcomes.length - 1]);

    // ---------------------------------------------------------------------------------------------- syncs
    for (let i = 0; i < p.syncRestarts; i++) {
      const mode: Mode = i % 2 === 0 ? 'fast' : 'immediate';
      const events = r.int(3, 60);
      const downMs = r.int(200, p.maxDownMs);
      const before = await countEvents(db.pool);
      const cli = startCli(['sync', '--full', '--wait'], env);
      let exited = false;
      void cli.done.then(() => (exited = true));
      await waitFor(async () => exited || (await countEvents(db.pool)) - before >= events, 120_000, `${events} events landed by the sync`);
      if (exited) {
        const res = await cli.done;
        expect(res.code, `sync ${i + 1} before its restart: ${res.stderr.slice(-2000)}`).to.equal(0);
        outcomes.push(`sync ${i + 1}: finished before the restart point`);
        log(outcomes[outcomes.length - 1]);
        continue;
      }
      await restart(mode, downMs);
      const res = await settle(cli, `sync ${i + 1} (restart ${mode} after ${events} events, down ${downMs} ms)`);
      const line = res.code === 0 ? 'reconnected and finished' : `exit ${res.code}: ${expectCleanFailure(res, 'sync')}`;
      outcomes.push(`sync ${i + 1}: Postgres ${mode} restart after +${events} events, down ${downMs} ms: ${line}`);
      log(outcomes[outcomes.length - 1]);
      if (res.code !== 0) {
        const next = await runCliWithin(['sync', '--wait'], env, p.cliLimitMs);
        expect(next.code, `the sync after a failed one completes: ${next.stdout}\n${next.stderr.slice(-2000)}`).to.equal(0);
      }
    }
    // Whatever happened, one more sync finds nothing missing, and nothing was lost or landed twice.
    const last = await runCliWithin(['sync', '--wait'], env, p.cliLimitMs);
    expect(last.code, `final sync: ${last.stderr.slice(-2000)}`).to.equal(0);
    const mismatches: string[] = [];
    const raw = await rawAgainstTruth(db.pool, sim);
    mismatches.push(...raw.mismatches);
    mismatches.push(...(await fullPassDuplicates(db.pool)).map((d) => `full pass ${d.pass}: ${d.entity} page ${d.page_number} landed ${d.n} times`));
    const { rows: running } = await db.pool.query(`SELECT run_id FROM qbsync.sync_runs WHERE status = 'running'`);
    mismatches.push(...running.map((x) => `run ${x.run_id} left running`));

    // ---------------------------------------------------------------------------------------------- replays
    const tr = await runCliWithin(['transform'], env, p.cliLimitMs);
    expect(tr.code, `transform: ${tr.stderr.slice(-2000)}`).to.equal(0);
    const before = await tableChecksums(db);
    expect(typedRows(before)).to.be.greaterThan(0);
    let replayHits = 0;
    // In the middle: once the replay has created its schema (it builds there, then swaps). A small lab's
    // build is quick, so a replay that finished first is tried again (up to 3 times per planned restart).
    const building = async () => {
      try {
        return (await db.pool.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'qbench_next'`)).rowCount === 1;
      } catch {
        return false;
      }
    };
    for (let i = 0, misses = 0; i < p.replayRestarts; ) {
      const n = i + 1;
      const mode: Mode = i % 2 === 0 ? 'immediate' : 'fast';
      const afterMs = r.int(0, 150);
      const downMs = r.int(200, p.maxDownMs);
      const cli = startCli(['replay'], env);
      let exited = false;
      void cli.done.then(() => (exited = true));
      const end = Date.now() + 120_000;
      while (!exited && !(await building())) {
        expect(Date.now() < end, 'the replay to start building').to.equal(true);
        await sleep(5);
      }
      await sleep(afterMs);
      if (exited) {
        const res = await cli.done;
        expect(res.code, `replay ${n} before its restart: ${res.stderr.slice(-2000)}`).to.equal(0);
        outcomes.push(`replay ${n}: finished before the restart point`);
        log(outcomes[outcomes.length - 1]);
        if (++misses === 3) {
          i++;
          misses = 0;
        }
        continue;
      }
      i++;
      misses = 0;
      replayHits++;
      await restart(mode, downMs);
      const res = await settle(cli, `replay ${n} (restart ${mode} ${afterMs} ms into the build, down ${downMs} ms)`);
      const line = res.code === 0 ? 'reconnected and finished' : `exit ${res.code}: ${expectCleanFailure(res, 'replay')}`;
      outcomes.push(`replay ${n}: Postgres ${mode} restart ${afterMs} ms into the build, down ${downMs} ms: ${line}`);
      log(outcomes[outcomes.length - 1]);
      if (res.code !== 0) {
        const next = await runCliWithin(['replay'], env, p.cliLimitMs);
        expect(next.code, `the replay after a failed one completes: ${next.stderr.slice(-2000)}`).to.equal(0);
      }
      const after = await tableChecksums(db);
      mismatches.push(...checksumDiff(after, before).map((d) => `after replay ${n}: ${d}`));
    }
    const { rows: leftovers } = await db.pool.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'qbench_%'`);
    mismatches.push(...leftovers.map((s) => `schema ${s.nspname} left behind`));

    expect(restarts, `restarts that hit a running process:\n${outcomes.join('\n')}`).to.be.at.least(Math.ceil((p.syncRestarts + p.replayRestarts) / 2));
    expect(replayHits, `replays restarted in the middle:\n${outcomes.join('\n')}`).to.be.at.least(Math.ceil(p.replayRestarts / 2));
    expect(mismatches, outcomes.join('\n')).to.deep.equal([]);
    log(`${restarts} restarts: ${results.reconnected} reconnected and finished, ${results.failedCleanly} failed with one line and were completed by the next run`);
    return {
      scenario: 'Postgres restart mid-sync and mid-replay',
      form: opts.form,
      seed: opts.seed,
      durationMs: Date.now() - t0,
      killsSurvived: restarts,
      faultsInjected: restarts,
      recordsChecked: raw.checked + typedRows(before) * p.replayRestarts,
      mismatches: mismatches.length,
      restarts,
      replaysRestartedMidway: replayHits,
      reconnectedAndFinished: results.reconnected,
      failedWithOneLine: results.failedCleanly,
      outcomes,
    };
  } finally {
    await cleanup.run();
  }
}
