import { setMaxListeners } from 'node:events';
import { InvalidArgumentError, type Command } from 'commander';
import { onShutdown } from '../../core/index.js';
import { makeClient, orderEntities, parseEntityName, runSync, SyncBusyError, ENTITIES, type EntityName } from '../../ingest/index.js';
import { createAlerter } from '../../ops/index.js';
import { resolveQBench } from '../qbench-source.js';
import { isInteractive, progressBars } from '../progress-bars.js';
import { action, intArg } from '../run.js';
import { printPlan } from '../plan.js';

function collectEntities(value: string, previous: EntityName[] = []): EntityName[] {
  const out = [...previous];
  for (const part of value.split(',')) {
    try {
      out.push(parseEntityName(part));
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  }
  return out;
}

export function register(program: Command): void {
  program
    .command('list-entities')
    .description('list the QBench entities qbsync can sync, in dependency order')
    .option('--json', 'print JSON')
    .action(
      action(async (_ctx, opts: { json?: boolean }) => {
        if (opts.json) {
          process.stdout.write(JSON.stringify(ENTITIES, null, 2) + '\n');
          return;
        }
        process.stdout.write('entity     v1 path                    change feed  depends on\n');
        for (const e of ENTITIES) {
          process.stdout.write(
            `${e.name.padEnd(10)} /qbench/api/v1/${e.v1.padEnd(10)} ${(e.updatesFeed ? 'updates' : 'recent window').padEnd(12)} ${e.dependsOn.join(', ') || '-'}\n`,
          );
        }
      }),
    );

  program
    .command('sync')
    .description('sync QBench into PostgreSQL: incremental by default (entities never synced get a full pass first)')
    .option('--full', 'run a full pass over every requested entity (an interrupted full pass is resumed)')
    .option('--entity <name>', 'entity to sync (repeatable or comma-separated; default all)', collectEntities)
    .option('--wait', 'if another sync is running, wait for it instead of exiting')
    .option('--dry-run', 'print the plan (entities, pages, requests, time at the rate budget) and change nothing')
    .option('--page-size <n>', 'QBench page size for new full passes (1-50)', intArg('--page-size', 1, 50))
    .option('--json', 'print the outcome as JSON on stdout')
    .addHelpText('after', `
Examples:
  qbsync sync                           incremental sync of every entity
  qbsync sync --full --entity tests     full pass over tests only
  qbsync sync --dry-run                 what a sync would do, touching nothing

Exit codes: 0 success, 1 failure (or another sync running), 2 bad usage.
Interrupted syncs resume from their checkpoints on the next run.`)
    .action(
      action(async (ctx, opts: { full?: boolean; entity?: EntityName[]; wait?: boolean; dryRun?: boolean; pageSize?: number; json?: boolean }) => {
        const entities = orderEntities(opts.entity);
        const db = await ctx.db();
        const source = await resolveQBench(ctx.config, ctx.logger);
        onShutdown(() => source.close());
        const mode = opts.full ? 'full' : 'incremental';
        if (opts.dryRun) {
          await printPlan({ db, config: ctx.config, baseUrl: source.baseUrl, entities, mode, logger: ctx.logger, pageSize: opts.pageSize });
          return 0;
        }
        const abort = new AbortController();
        setMaxListeners(0, abort.signal); // shared by every request of the run (prefetched pages, test details)
        // Only while the run is in flight (the CLI runs every shutdown handler at a normal exit too).
        const offStop = onShutdown(() => {
          ctx.logger.warn('stopping: finishing the page in flight; the next sync resumes from the checkpoint');
          abort.abort();
        });
        const bars = isInteractive() && !opts.json ? progressBars() : undefined;
        // Webhook alerts (ops/alerts.ts) once the run is recorded; delivery errors are logged, never fail the sync.
        const alerter = createAlerter({ config: ctx.config, logger: ctx.logger, pool: db.pool });
        try {
          const out = await runSync(
            {
              db,
              logger: ctx.logger,
              progress: bars,
              signal: abort.signal,
              pageSize: ctx.config.qbench.pageSize,
              bodyWorkers: ctx.config.bodyWorkers,
              makeClient: (onEvent) => makeClient(ctx.config, { baseUrl: source.baseUrl, logger: ctx.logger, onEvent }),
            },
            { mode, entities, runId: ctx.runId, wait: opts.wait, pageSize: opts.pageSize, requestedBy: 'cli' },
          ).catch(async (err: unknown) => {
            if (!(err instanceof SyncBusyError)) await alerter.afterSyncError(ctx.runId, err);
            throw err;
          });
          bars?.stop();
          if (opts.json) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
          else {
            for (const e of out.entities) {
              process.stdout.write(`${e.entity.padEnd(10)} ${e.mode.padEnd(12)} ${e.status.padEnd(10)} ${String(e.pages).padStart(6)} pages ${String(e.records).padStart(8)} records${e.error ? `  ${e.error}` : ''}\n`);
            }
            process.stdout.write(`run ${out.runId}: ${out.status} in ${(out.durationMs / 1000).toFixed(1)} s, ${out.requests} requests, ${out.retries} retries, ${out.rateLimited} rate-limited\n`);
          }
          await alerter.afterSync(out);
          return out.status === 'succeeded' || out.status === 'partial' ? 0 : 1;
        } finally {
          offStop();
          bars?.stop();
        }
      }),
    );
}
