import type { Command } from 'commander';
import { resetWatermark, type EntityName } from '../../ingest/index.js';
import { action, dateArg } from '../run.js';
import { collectEntityArg } from '../entity-arg.js';

const iso = (d: Date | undefined) => (d ? new Date(d).toISOString() : 'none');

export function register(program: Command): void {
  program
    .command('reset-watermark')
    .description("move an entity's incremental sync position: forget it (next sync does a full pass) or set it to a date")
    .requiredOption('--entity <name>', 'entity (repeatable or comma-separated)', collectEntityArg)
    .option('--to <date>', 'set the watermark to this instant (UTC) instead: the next incremental asks for changes since then', dateArg('--to'))
    .option('--wait', 'if a sync is running, wait for it instead of exiting')
    .addHelpText('after', `
Examples:
  qbsync reset-watermark --entity tests                    the next sync runs a full pass of tests
  qbsync reset-watermark --entity tests --to 2026-11-01    the next incremental re-reads changes since Nov 1

The watermark is QBench's clock when the last sync caught up. It is changed under the sync lock.`)
    .action(
      action(async (ctx, opts: { entity: EntityName[]; to?: Date; wait?: boolean }) => {
        const db = await ctx.db();
        const out = await resetWatermark(db, opts.entity, { to: opts.to, wait: opts.wait });
        for (const r of out) {
          process.stdout.write(
            `${r.entity}: watermark ${iso(r.before?.since_at)} -> ${iso(r.after?.since_at)}; next sync: ${r.next === 'full' ? 'full pass' : 'incremental'}\n`,
          );
        }
      }),
    );
}
