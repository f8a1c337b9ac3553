/**
 * `qbsync transform`, `qbsync replay` and `qbsync report orphans|drift`: thin wrappers over transform/.
 */
import { Argument, InvalidArgumentError, type Command } from 'commander';
import { onShutdown } from '../../core/index.js';
import { drift, orphans, parseTarget, replay, runTransforms, TARGETS, type Target, type TargetStats } from '../../transform/index.js';
import { action, intArg } from '../run.js';

function collectTargets(value: string, previous: Target[] = []): Target[] {
  const out = [...previous];
  for (const part of value.split(',')) {
    const t = parseTarget(part);
    if (!t) throw new InvalidArgumentError(`unknown entity ${JSON.stringify(part)}; expected one of: ${TARGETS.join(', ')}`);
    out.push(t);
  }
  return out;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function printStats(stats: TargetStats[]): void {
  process.stdout.write('target       fetches   records  inserted   updated unchanged   deleted  watermark (raw.fetches.id)   time\n');
  for (const s of stats) {
    process.stdout.write(
      `${s.target.padEnd(10)} ${[s.fetches, s.records, s.inserted, s.updated, s.unchanged, s.deleted].map((n) => String(n).padStart(9)).join(' ')}  ` +
        `${`${s.fromFetch} -> ${s.toFetch}`.padEnd(26)} ${seconds(s.durationMs)}\n`,
    );
  }
}

export function register(program: Command): void {
  program
    .command('transform')
    .description('apply the raw events landed since the last run to the typed tables and daily rollups (incremental, by watermark)')
    .option('--entity <name>', `entity to transform (repeatable or comma-separated; default all: ${TARGETS.join(', ')})`, collectTargets)
    .option('--json', 'print the per-entity figures as JSON on stdout')
    .addHelpText('after', `
Each entity's raw events with an id above its watermark are applied in bounded batches, one transaction
each (rows, rollup days and watermark together); running it again with nothing new changes nothing.
Rollup days are counted in QBSYNC_TIMEZONE; changing it needs \`qbsync replay\`.

Exit codes: 0 success, 1 failure, 2 bad usage (or a timezone change without a replay).`)
    .action(
      action(async (ctx, opts: { entity?: Target[]; json?: boolean }) => {
        const db = await ctx.db();
        const abort = new AbortController();
        onShutdown(() => abort.abort());
        const out = await runTransforms(db, { targets: opts.entity, logger: ctx.logger, timezone: ctx.config.timezone, signal: abort.signal });
        if (opts.json) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        else {
          printStats(out.targets);
          process.stdout.write(`done in ${seconds(out.durationMs)} (raw up to fetch ${out.horizon})\n`);
        }
        return abort.signal.aborted ? 1 : 0;
      }),
    );

  program
    .command('replay')
    .description('rebuild the typed tables and rollups from raw (no request to QBench) and swap them in atomically')
    .option('--entity <name>', 'rebuild only these entities\' tables (repeatable or comma-separated; default all)', collectTargets)
    .option('--json', 'print the outcome as JSON on stdout')
    .addHelpText('after', `
Without --entity, every typed table and rollup is rebuilt from raw (watermark 0) into schema qbench_next,
caught up with whatever landed meanwhile, and swapped in by renaming the schemas in one transaction:
readers keep answering from the old tables until that moment and never see a half-built one.
With --entity, only those tables are rebuilt; they replace the live ones and every rollup is recomputed,
in one transaction. A change of QBSYNC_TIMEZONE needs a replay without --entity.

Exit codes: 0 success, 1 failure (or another replay running), 2 bad usage.`)
    .action(
      action(async (ctx, opts: { entity?: Target[]; json?: boolean }) => {
        const db = await ctx.db();
        const abort = new AbortController();
        onShutdown(() => abort.abort());
        const out = await replay(db, { targets: opts.entity, logger: ctx.logger, timezone: ctx.config.timezone, signal: abort.signal });
        if (opts.json) {
          process.stdout.write(JSON.stringify(out, null, 2) + '\n');
          return 0;
        }
        printStats(out.targets);
        process.stdout.write(
          `replayed ${out.scope === 'all' ? 'every table and rollup' : `${out.targets.map((t) => t.target).join(', ')} and every rollup`} ` +
            `in ${seconds(out.durationMs)} (build ${seconds(out.buildMs)}, indexes ${seconds(out.indexMs)}, rollups ${seconds(out.rollupMs)}, ` +
            `catch-up ${seconds(out.catchUpMs)}, swap ${out.swapMs} ms); rollup days in ${out.timezone}\n`,
        );
        return 0;
      }),
    );

  program
    .command('report')
    .description('reports over the typed tables: orphans (rows whose parent is missing) or drift (unknown payload keys, values that did not parse)')
    .addArgument(new Argument('<kind>', 'orphans | drift').choices(['orphans', 'drift']))
    .option('--json', 'print JSON on stdout')
    .option('--limit <n>', 'orphans: how many to list', intArg('--limit', 1, 1_000_000), 100)
    .option('--raw', 'drift: also count raw records without a usable id (reads the whole raw landing)')
    .action(
      action(async (ctx, kind: 'orphans' | 'drift', opts: { json?: boolean; limit: number; raw?: boolean }) => {
        const db = await ctx.db();
        if (kind === 'orphans') {
          const r = await orphans(db, { limit: opts.limit });
          if (opts.json) {
            process.stdout.write(JSON.stringify(r, null, 2) + '\n');
            return 0;
          }
          const c = r.counts;
          process.stdout.write(
            `tests without their sample: ${c.tests_without_sample}\nsamples without their order: ${c.samples_without_order}\n` +
              `orders without their customer: ${c.orders_without_customer}\n`,
          );
          for (const o of r.orphans) process.stdout.write(`  ${o.entity} ${o.id}: ${o.missing} ${o.parent_id ?? '(none)'} missing\n`);
          if (r.truncated) process.stdout.write(`  … (first ${opts.limit}; --limit for more)\n`);
          return 0;
        }
        const r = await drift(db, { scanRaw: opts.raw });
        if (opts.json) {
          process.stdout.write(JSON.stringify(r, null, 2) + '\n');
          return 0;
        }
        for (const e of r) {
          const extra = e.records_without_id !== undefined ? `, ${e.records_without_id} raw records without an id` : '';
          process.stdout.write(`${e.entity} (${e.rows} rows${extra})\n`);
          if (!e.unknown_keys.length && !e.parse_errors.length) process.stdout.write('  no drift\n');
          for (const k of e.unknown_keys) {
            process.stdout.write(`  unknown key ${k.key}: ${k.rows} rows, e.g. id ${k.example_id} = ${JSON.stringify(k.example_value)?.slice(0, 80)}\n`);
          }
          for (const p of e.parse_errors) {
            process.stdout.write(`  ${p.field} did not parse: ${p.rows} rows, e.g. id ${p.example_id}: ${JSON.stringify(p.example.value)?.slice(0, 60)} (${p.example.error})\n`);
          }
        }
        return 0;
      }),
    );
}
