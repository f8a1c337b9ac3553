import type { Command } from 'commander';
import { startWorker } from '../../jobs/index.js';
import { resolveQBench } from '../qbench-source.js';
import { action, intArg } from '../run.js';
import { onShutdown } from '../../core/index.js';

export function register(program: Command): void {
  program
    .command('worker')
    .description('run a worker: queued and scheduled syncs, transforms, replays, backfills and backfill chunks')
    .option('--concurrency <n>', 'backfill chunks worked at once', intArg('--concurrency', 1, 32), 2)
    .addHelpText('after', `
Examples:
  qbsync worker                      one worker (start more, here or on other machines, to go faster)
  qbsync worker --concurrency 4      four backfill chunks at once

Every worker on the database shares one QBench budget (QBENCH_RATE_LIMIT requests per
QBENCH_RATE_WINDOW_SECONDS, kept in Postgres), so N workers together stay under QBench's limit.
A worker applies QBSYNC_SYNC_CRON (if set) as the sync schedule when it starts; see qbsync schedule.
Ctrl-C (SIGINT) or SIGTERM stops it gracefully: no new jobs, jobs in flight stop after their page.`)
    .action(
      action(async (ctx, opts: { concurrency: number }) => {
        const db = await ctx.db({ poolMax: opts.concurrency * 2 + 8 });
        const source = await resolveQBench(ctx.config, ctx.logger);
        onShutdown(() => source.close());
        const worker = await startWorker({
          db, config: ctx.config, logger: ctx.logger, baseUrl: source.baseUrl, concurrency: opts.concurrency, installSignalHandlers: true,
        });
        process.stderr.write(`qbsync worker running (${opts.concurrency} backfill chunk(s) at once); Ctrl-C to stop\n`);
        await worker.stopped;
        return 0;
      }),
    );
}
