/**
 * `npm run chaos`: the long form of the chaos suite (the short form runs in `npm test` as test/chaos/*.test.ts).
 * The same scenarios with more kills, longer outages, more load; prints what each did and checked, and writes
 * bench/results/chaos.json. Exit code 1 if any scenario failed.
 *
 *   npm run chaos                                   every scenario, long form, default seeds
 *   npm run chaos -- --only kills,workers           some of them
 *   npm run chaos -- --seed 42                      one seed for all (replays a failing run's plan)
 *   npm run chaos -- --form short                   the short form through this runner
 */
import fs from 'node:fs';
import path from 'node:path';
import { startTestServer, stopTestServer } from '../helpers/pg.js';
import { runKillScenario } from './kills.js';
import { runPgRestartScenario } from './pg-restart.js';
import { runQBenchFaultScenario } from './qbench-faults.js';
import { runWorkersScenario } from './workers.js';
import { runApiLoadScenario } from './api-load.js';
import type { ChaosOptions, Figures, Form } from './lib.js';

const SCENARIOS: Array<{ name: string; run: (o: ChaosOptions) => Promise<Figures>; seed: number }> = [
  { name: 'kills', run: runKillScenario, seed: 1101 },
  { name: 'pg-restart', run: runPgRestartScenario, seed: 2202 },
  { name: 'qbench-faults', run: runQBenchFaultScenario, seed: 3303 },
  { name: 'workers', run: runWorkersScenario, seed: 4404 },
  { name: 'api-load', run: runApiLoadScenario, seed: 5505 },
];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const only = arg('only')?.split(',');
const seedArg = arg('seed');
const form = (arg('form') ?? 'long') as Form;
if (!['short', 'long'].includes(form)) throw new Error(`--form must be short or long (got ${form})`);
const unknown = only?.filter((n) => !SCENARIOS.some((s) => s.name === n));
if (unknown?.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);

const secs = (ms: number) => `${(ms / 1000).toFixed(0)} s`;

async function main(): Promise<number> {
  const started = Date.now();
  await startTestServer();
  const results: Figures[] = [];
  const failures: Array<{ scenario: string; seed: number; error: string }> = [];
  try {
    for (const s of SCENARIOS.filter((x) => !only || only.includes(x.name))) {
      const seed = seedArg ? Number(seedArg) : s.seed;
      console.log(`\n== ${s.name} (${form} form, seed ${seed})`);
      try {
        const f = await s.run({ seed, form, log: (l) => console.log(`  ${l}`) });
        results.push(f);
        console.log(`  -> ok in ${secs(f.durationMs)}: ${f.killsSurvived} kills survived, ${f.faultsInjected} faults injected, ${f.recordsChecked} records checked, ${f.mismatches} mismatches`);
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        failures.push({ scenario: s.name, seed, error: msg });
        console.log(`  -> FAILED: ${msg}`);
      }
    }
  } finally {
    await stopTestServer();
  }
  const sum = (k: 'killsSurvived' | 'faultsInjected' | 'recordsChecked' | 'mismatches') => results.reduce((a, f) => a + f[k], 0);
  const load = results.find((f) => f.p99 !== undefined);
  const totals = {
    scenarios: results.length + failures.length,
    passed: results.length,
    failed: failures.length,
    killsSurvived: sum('killsSurvived'),
    faultsInjected: sum('faultsInjected'),
    recordsChecked: sum('recordsChecked'),
    mismatches: sum('mismatches') + failures.length,
    load: load ? { connections: load.connections, seconds: load.seconds, requests: load.requests, p50: load.p50, p95: load.p95, p99: load.p99 } : null,
    durationMs: Date.now() - started,
  };
  console.log(`\n${'scenario'.padEnd(60)}   time   kills  faults   records  mismatches`);
  for (const f of results) {
    console.log(`${f.scenario.padEnd(60)} ${secs(f.durationMs).padStart(6)} ${String(f.killsSurvived).padStart(7)} ${String(f.faultsInjected).padStart(7)} ${String(f.recordsChecked).padStart(9)} ${String(f.mismatches).padStart(11)}`);
  }
  for (const f of failures) console.log(`${f.scenario.padEnd(60)} FAILED (seed ${f.seed})`);
  console.log(
    `\ntotal: ${totals.killsSurvived} kills survived, ${totals.faultsInjected} faults injected, ${totals.recordsChecked} records checked, ` +
      `${totals.mismatches} mismatches${load ? `; API under load (${load.connections} connections, ${load.seconds} s): p50 ${load.p50} ms, p95 ${load.p95} ms, p99 ${load.p99} ms` : ''}` +
      ` — ${secs(totals.durationMs)}`,
  );
  const file = path.resolve('bench/results/chaos.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ generatedAt: new Date().toISOString(), form, totals, scenarios: results, failures }, null, 2) + '\n');
  console.log(`written ${path.relative(process.cwd(), file)}`);
  return failures.length ? 1 : 0;
}

process.exitCode = await main();
