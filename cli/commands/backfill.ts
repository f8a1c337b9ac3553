import { setMaxListeners } from 'node:events';
import type { Command } from 'commander';
import { UsageError, onShutdown } from '../../core/index.js';
import { QUEUES, startBoss, txExecutor } from '../../core/boss.js';
import {
  claimableChunks, chunkLabel, finalizeBackfill, formatVolumetry, getBackfill, makeClient, runChunk, PgRateBudget,
  DEFAULT_BACKFILL_ENTITIES, DEFAULT_CHUNK_DAYS, type ChunkDeps, type ChunkRow, type EntityName, type FinalizeResult,
} from '../../ingest/index.js';
import { enqueueBackfill, applyTransforms } from '../../jobs/index.js';
import { resolveQBench } from '../qbench-source.js';
import { action, dateArg, intArg } from '../run.js';
import { collectEntityArg } from '../entity-arg.js';

interface Opts {
  from: Date;
  to: Date;
  entity?: EntityName[];
  chunkDays?: number;
  concurrency: number;
  enqueueOnly?: boolean;
  again?: boolean;
  transform: boolean;
  json?: boolean;
}

const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function chunkLine(c: ChunkRow): string {
  return (
    `  ${c.entity.padEnd(10)} ${chunkLabel(c).padEnd(12)} ${c.status.padEnd(8)} ${String(c.pages).padStart(5)} pages ${String(c.rows).padStart(7)} rows ` +
    `(${c.inserted} new, ${c.updated} updated, ${c.unchanged} unchanged, ${c.skipped} skipped) ${String(c.requests).padStart(5)} req ${sec(c.duration_ms).padStart(7)}` +
    `${c.attempts > 1 ? `  ${c.attempts} attempts` : ''}${c.error ? `  error: ${c.error}` : ''}`
  );
}

export function register(program: Command): void {
  program
    .command('backfill')
    .description('fetch every record created in [--from, --to) again, in resumable chunks (entity x date window)')
    .requiredOption('--from <date>', 'first day of the range (inclusive), UTC: 2024-01-01 or 2024-01-01T06:00:00Z', dateArg('--from'))
    .requiredOption('--to <date>', 'end of the range (exclusive), UTC', dateArg('--to'))
    .option('--entity <name>', `entity to backfill (repeatable or comma-separated; default ${DEFAULT_BACKFILL_ENTITIES.join(', ')})`, collectEntityArg)
    .option('--chunk-days <n>', `days per chunk (default ${DEFAULT_CHUNK_DAYS})`, intArg('--chunk-days', 1, 3660))
    .option('--concurrency <n>', 'chunks this process works at once', intArg('--concurrency', 1, 16), 2)
    .option('--enqueue-only', 'queue the chunk jobs and exit: running workers (qbsync worker) work them')
    .option('--again', 'fetch the range again even if the same backfill already completed')
    .option('--no-transform', 'do not apply the transforms before the volumetry check')
    .option('--json', 'print the outcome as JSON on stdout')
    .addHelpText('after', `
Examples:
  qbsync backfill --from 2024-01-01 --to 2024-07-01
      every default entity created in the first half of 2024, 7-day chunks, worked by this process
      (and by any running worker: each chunk is done once)
  qbsync backfill --from 2024-01-01 --to 2024-02-01 --entity tests --chunk-days 1
  qbsync backfill --from 2024-01-01 --to 2024-07-01 --enqueue-only
      leave the chunks to the workers

The same command again (same entities and range) skips the chunks already done and resumes the others
where they stopped, so an interrupted backfill is finished by running it again. --again starts over.

How a chunk is found: QBench v1 lists have no date filter, so each chunk binary-searches the list sorted
by date_created (about log2(pages) requests), then pages forward to the chunk's end. Customers whose
date_created is null belong to no window: a backfill that includes customers fetches them once, in an
extra "undated" chunk.

At the end: parents missing from raw are fetched by id, transforms are applied, and the counts are
checked: records QBench returned vs records raw holds for the range vs typed rows for the range.

Exit codes: 0 done, 1 chunks failed (run it again) or interrupted, 2 bad usage.`)
    .action(
      action(async (ctx, opts: Opts) => {
        if (opts.from.getTime() >= opts.to.getTime()) {
          throw new UsageError(`--from (${opts.from.toISOString()}) must be before --to (${opts.to.toISOString()}): the range is [from, to)`);
        }
        const db = await ctx.db({ poolMax: opts.concurrency * 2 + 6 });
        const boss = await startBoss(db.url, ctx.logger, { schedule: false, supervise: false });
        onShutdown(() => boss.stop({ graceful: false, wait: true }).catch(() => undefined));
        const plan = await enqueueBackfill(db, boss, {
          from: opts.from, to: opts.to, entities: opts.entity, chunkDays: opts.chunkDays, pageSize: ctx.config.qbench.pageSize,
          requestedBy: 'cli', again: opts.again,
        });
        const id = plan.backfill.backfill_id;
        const say = (s: string) => {
          if (!opts.json) process.stdout.write(s + '\n');
        };
        for (const n of plan.notes) say(n);
        const done = plan.all.length - plan.open.length;
        say(
          `backfill ${id}: ${plan.backfill.entities.join(', ')} created in [${opts.from.toISOString()}, ${opts.to.toISOString()}), ` +
            `${plan.backfill.chunk_days}-day chunks: ${plan.all.length} chunks, ${done} done before, ${plan.open.length} to do`,
        );
        if (opts.enqueueOnly) {
          say(`queued ${plan.queued} chunk job(s); workers (qbsync worker) will work them. Run this command again without --enqueue-only to work them here.`);
          if (opts.json) process.stdout.write(JSON.stringify({ backfillId: id, chunks: plan.all.length, open: plan.open.length, queued: plan.queued }, null, 2) + '\n');
          return 0;
        }

        const source = await resolveQBench(ctx.config, ctx.logger);
        onShutdown(() => source.close());
        let stop = false;
        const abort = new AbortController();
        setMaxListeners(0, abort.signal); // shared by every request of every chunk
        // Only while chunks or the finalize are in flight (the CLI runs every shutdown handler at a normal exit too).
        const offStop = onShutdown(() => {
          stop = true;
          ctx.logger.warn('stopping: chunks in flight stop after the page they are on; run the same command again to finish');
          setTimeout(() => abort.abort(), 10_000).unref();
        });
        const budget = new PgRateBudget(db.pool, { limit: ctx.config.qbench.rateLimit, windowMs: ctx.config.qbench.rateWindowSeconds * 1000 });
        const deps: ChunkDeps = {
          db, logger: ctx.logger, signal: abort.signal, stopRequested: () => stop,
          makeClient: (onEvent) => makeClient(ctx.config, { baseUrl: source.baseUrl, logger: ctx.logger, onEvent, rateBudget: budget }),
          onLanded: async (tx, entity) => {
            await boss.send(QUEUES.transform, { target: entity }, { singletonKey: entity, db: txExecutor(tx) });
          },
          transform: opts.transform ? (targets) => applyTransforms(db, targets, { logger: ctx.logger, timezone: ctx.config.timezone, signal: abort.signal }) : undefined,
        };

        const mine = new Set<number>();
        const work = async () => {
          for (;;) {
            if (stop) return;
            const ids = (await claimableChunks(db.pool, id)).filter((c) => !mine.has(c));
            if (!ids.length) {
              const got = await getBackfill(db.pool, id);
              if (!got!.chunks.some((c) => c.status === 'pending' || c.status === 'running')) return;
              await new Promise((r) => setTimeout(r, 1000)); // chunks running in other processes
              continue;
            }
            const chunkId = ids[0];
            mine.add(chunkId);
            try {
              const out = await runChunk(deps, chunkId);
              if (out.state === 'done' && !opts.json) {
                const row = (await getBackfill(db.pool, id))!.chunks.find((c) => c.chunk_id === chunkId)!;
                say(chunkLine(row));
              }
              if (out.state === 'retry') await new Promise((r) => setTimeout(r, 2000));
            } finally {
              mine.delete(chunkId);
            }
          }
        };
        await Promise.all(Array.from({ length: opts.concurrency }, work));
        if (stop) {
          say(`interrupted: run the same command again to finish backfill ${id}`);
          return 1;
        }

        let fin: FinalizeResult | null = null;
        for (;;) {
          fin = await finalizeBackfill(deps, id);
          if (fin) break;
          const got = await getBackfill(db.pool, id);
          if (got && got.backfill.status !== 'running' && got.backfill.volumetry) {
            fin = { backfill: got.backfill, chunks: got.chunks, volumetry: got.backfill.volumetry, recovery: null };
            break;
          }
          await new Promise((r) => setTimeout(r, 1000)); // another process is finalizing
        }
        offStop();
        // Jobs still queued for chunks this process finished would only find them done.
        const jobIds = fin.chunks.map((c) => c.job_id).filter((j): j is string => !!j);
        if (jobIds.length) await boss.cancel(QUEUES.backfillChunk, jobIds).catch(() => undefined);

        const failed = fin.chunks.filter((c) => c.status === 'failed');
        if (opts.json) {
          process.stdout.write(JSON.stringify({ backfill: fin.backfill, chunks: fin.chunks, volumetry: fin.volumetry, recovery: fin.recovery }, null, 2) + '\n');
        } else {
          const totals = fin.chunks.reduce(
            (a, c) => ({ pages: a.pages + c.pages, rows: a.rows + c.rows, requests: a.requests + c.requests, ins: a.ins + c.inserted, upd: a.upd + c.updated, same: a.same + c.unchanged }),
            { pages: 0, rows: 0, requests: 0, ins: 0, upd: 0, same: 0 },
          );
          say(`chunks: ${fin.chunks.length} (${failed.length} failed); ${totals.pages} pages, ${totals.rows} rows (${totals.ins} new, ${totals.upd} updated, ${totals.same} unchanged), ${totals.requests} requests`);
          for (const c of failed) say(chunkLine(c));
          if (fin.recovery && (fin.recovery.missing || fin.recovery.failed.length)) {
            say(`parents: ${fin.recovery.missing} missing from raw, ${fin.recovery.recovered} recovered by id, ${fin.recovery.failed.length} could not be (see qbsync.recovery_log)`);
          }
          for (const line of formatVolumetry(fin.volumetry)) say(line);
          say(`backfill ${id}: ${fin.backfill.status}`);
        }
        return failed.length ? 1 : 0;
      }),
    );
}

