/**
 * `npm run bench`: every benchmark, one after another, each in its own process (so peak-memory figures
 * are its own). Each prints its baseline from the same run, the ratio and memory; results are also
 * written to bench/results/*.json. Pass names to run a subset: `npm run bench -- ingest api`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const BENCHES: Array<{ name: string; file: string; args: string[] }> = [
  { name: 'sim-memory', file: 'bench/sim-large-memory.ts', args: [] },
  { name: 'ingest', file: 'bench/ingest.ts', args: ['--size', 'medium', '--rate-limited', 'small'] },
  { name: 'transform', file: 'bench/transform.ts', args: ['--size', 'medium'] },
  { name: 'api', file: 'bench/api.ts', args: [] },
];

const wanted = process.argv.slice(2);
let failed = 0;
for (const b of BENCHES) {
  if (wanted.length && !wanted.includes(b.name)) continue;
  if (!fs.existsSync(path.resolve(b.file))) {
    console.log(`\n=== ${b.name}: ${b.file} not present, skipped`);
    continue;
  }
  console.log(`\n=== ${b.name} (${b.file} ${b.args.join(' ')})`);
  const t = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', b.file, ...b.args], { stdio: 'inherit' });
  console.log(`=== ${b.name}: ${r.status === 0 ? 'done' : `FAILED (exit ${r.status})`} in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
