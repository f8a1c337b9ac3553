import type { Command } from 'commander';
import { UsageError } from '../../core/index.js';
import { pruneRaw, rawStats } from '../../ops/index.js';
import { indexRaw, rawIndexLag, rebuildRawIndex } from '../../ingest/index.js';
import { action, dateArg } from '../run.js';

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString().replace('.000Z', 'Z') : '-');
const size = (n: number) => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

export function register(program: Command): void {
  const raw = program.command('raw').description('the raw landing: statistics, retention (prune), the per-record index');

  raw
    .command('stats')
    .description('events, distinct bodies and bytes per entity and kind, oldest and newest fetch')
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, opts: { json?: boolean }) => {
        const db = await ctx.db();
        const s = await rawStats(db);
        if (opts.json) {
          process.stdout.write(JSON.stringify(s, null, 2) + '\n');
          return;
        }
        process.stdout.write('entity     kind      events    bodies  body bytes   oldest fetch           newest fetch\n');
        for (const r of s.rows) {
          process.stdout.write(
            `${r.entity.padEnd(10)} ${r.kind.padEnd(8)} ${String(r.events).padStart(7)} ${String(r.bodies).padStart(9)} ${size(r.bytes).padStart(11)}   ${iso(r.oldest).padEnd(22)} ${iso(r.newest)}\n`,
          );
        }
        if (!s.rows.length) process.stdout.write('(raw is empty: run `qbsync sync`)\n');
        process.stdout.write(
          `total      ${''.padEnd(8)} ${String(s.totals.events).padStart(7)} ${String(s.totals.bodies).padStart(9)} ${size(s.totals.bytes).padStart(11)}   ${iso(s.totals.oldest).padEnd(22)} ${iso(s.totals.newest)}\n` +
            `on disk: raw.fetches ${size(s.disk.fetches)}, raw.page_bodies ${size(s.disk.page_bodies)} (with indexes and TOAST)\n`,
        );
        for (const p of s.prunes) {
          process.stdout.write(`pruned ${iso(p.pruned_at)}: ${p.fetches_deleted} events, ${p.bodies_deleted} bodies (${size(Number(p.bytes_freed))}) fetched before ${iso(p.before_at)}\n`);
        }
      }),
    );

  raw
    .command('prune')
    .description('delete raw events fetched before a date, keeping what today\'s typed tables are built from')
    .requiredOption('--before <date>', 'events fetched before this date (YYYY-MM-DD or ISO timestamp, UTC) are candidates', dateArg('--before'))
    .option('--keep-latest', 'keep, per record, the events carrying its newest version (required: the only policy)')
    .option('--dry-run', 'do the whole prune, print what it would delete, and roll back')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Kept, whatever their date: per record, the events carrying its newest version (the first one, and the last one
of each distinct content: re-fetched identical copies in between go), every event a typed row's source_fetch_id
points at, Updates events whose deletions still apply, and events the transforms have not applied yet. Bodies no remaining event uses are deleted. One transaction (landings and
transforms wait; a running replay makes it refuse); counts are logged and kept in qbsync.raw_prunes.
A replay afterwards gives the same typed tables.

Examples:
  qbsync raw prune --before 2026-01-01 --keep-latest --dry-run
  qbsync raw prune --before 2026-01-01 --keep-latest`)
    .action(
      action(async (ctx, opts: { before: Date; keepLatest?: boolean; dryRun?: boolean; json?: boolean }) => {
        if (!opts.keepLatest) {
          throw new UsageError('raw prune needs --keep-latest: the only policy, which keeps the newest version of every record (and what the typed tables use)');
        }
        const db = await ctx.db();
        const r = await pruneRaw(db, { before: opts.before, dryRun: opts.dryRun, logger: ctx.logger });
        if (opts.json) {
          process.stdout.write(JSON.stringify(r, null, 2) + '\n');
          return;
        }
        const would = r.dryRun ? 'would delete' : 'deleted';
        process.stdout.write(
          `${r.dryRun ? 'dry run (nothing changed): ' : ''}${r.candidates} events fetched before ${r.before}; ${would} ${r.deleted.fetches} events and ` +
            `${r.deleted.bodies} bodies (${size(r.deleted.bytes)}); kept ${r.kept.total} (newest versions ${r.kept.newest_version}, typed rows ${r.kept.typed_rows}, ` +
            `deletions ${r.kept.deletions}, not yet transformed ${r.kept.not_transformed}) in ${(r.durationMs / 1000).toFixed(1)} s\n`,
        );
        for (const e of r.byEntity) process.stdout.write(`  ${e.entity.padEnd(10)} ${e.kind.padEnd(8)} ${would} ${String(e.deleted).padStart(7)}  kept ${String(e.kept).padStart(7)}\n`);
      }),
    );
  raw
    .command('index')
    .description('bring the per-record index of raw (qbsync.raw_records, raw_record_events) up to date, or rebuild it')
    .option('--rebuild', 'empty it and index all of raw again (landings wait while it runs)')
    .option('--json', 'print JSON')
    .addHelpText('after', `
The index is derived from raw and kept off the landing path: backfills, parent recovery and the worker's
transform jobs bring it up to date before they read it. This command does the same by hand; --rebuild
re-derives it from raw (equivalent SQL: SELECT qbsync.rebuild_raw_index();).`)
    .action(
      action(async (ctx, opts: { rebuild?: boolean; json?: boolean }) => {
        const db = await ctx.db();
        const r = opts.rebuild ? await rebuildRawIndex(db.pool, ctx.logger) : await indexRaw(db.pool, ctx.logger);
        const lag = await rawIndexLag(db.pool);
        if (opts.json) {
          process.stdout.write(JSON.stringify({ ...r, ...lag }, null, 2) + '\n');
          return;
        }
        process.stdout.write(
          `raw index ${opts.rebuild ? 'rebuilt' : 'updated'}: ${r.events} events indexed in ${(r.durationMs / 1000).toFixed(1)} s; ` +
            `indexed up to fetch ${lag.mark} (${lag.behind} events above it)\n`,
        );
      }),
    );
  for (const c of raw.commands) c.exitOverride().showHelpAfterError('(run with --help for usage)');
}
