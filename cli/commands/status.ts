import type { Command } from 'commander';
import { listCheckpoints, listRuns, listWatermarks } from '../../ingest/index.js';
import { action, intArg } from '../run.js';

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString().replace('.000Z', 'Z') : '-');

export function register(program: Command): void {
  program
    .command('status')
    .description('show the last runs and each entity\'s checkpoint and watermark')
    .option('--json', 'print JSON')
    .option('--runs <n>', 'how many runs to show', intArg('--runs', 1, 1000), 10)
    .action(
      action(async (ctx, opts: { json?: boolean; runs: number }) => {
        const db = await ctx.db();
        const [runs, checkpoints, watermarks] = await Promise.all([listRuns(db.pool, opts.runs), listCheckpoints(db.pool), listWatermarks(db.pool)]);
        if (opts.json) {
          process.stdout.write(JSON.stringify({ runs, checkpoints, watermarks }, null, 2) + '\n');
          return;
        }
        process.stdout.write('Runs (newest first)\n');
        if (!runs.length) process.stdout.write('  none yet: run `qbsync sync`\n');
        for (const r of runs) {
          process.stdout.write(
            `  ${r.run_id}  ${r.mode.padEnd(11)} ${r.status.padEnd(9)} ${iso(r.started_at ?? r.created_at)}  ${String(r.pages).padStart(6)} pages ${String(r.records).padStart(8)} records ` +
              `${String(r.requests).padStart(6)} req ${r.retries} retries ${r.rate_limited} 429s ${r.skipped_pages.length} skipped` +
              `${r.duration_ms != null ? `  ${(r.duration_ms / 1000).toFixed(1)} s` : ''}${r.error ? `\n      error: ${r.error}` : ''}\n`,
          );
        }
        const wm = new Map(watermarks.map((w) => [w.entity, w]));
        process.stdout.write('\nEntities\n  entity     full pass    next page / pages   records   completed              watermark (QBench clock)\n');
        for (const c of checkpoints) {
          const w = wm.get(c.entity);
          process.stdout.write(
            `  ${c.entity.padEnd(10)} ${c.status.padEnd(12)} ${`${c.next_page} / ${c.total_pages ?? '?'}`.padEnd(19)} ${String(c.records).padStart(8)}   ${iso(c.completed_at).padEnd(22)} ${w ? `${iso(w.since_at)} (${w.source})` : '-'}\n`,
          );
        }
        if (!checkpoints.length) process.stdout.write('  nothing synced yet\n');
      }),
    );
}
