import type { Command } from 'commander';
import { backupDatabase, checkBackupFile, restoreDatabase } from '../../ops/index.js';
import { action, fileArg } from '../run.js';

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

export function register(program: Command): void {
  program
    .command('backup')
    .description('write qbsync\'s data (raw, qbsync, qbench, pgboss schemas and the migrations table) to one file')
    .requiredOption('--out <file>', 'the backup file to write (gzip\'d qbsync backup format)', fileArg('--out'))
    .option('--force', 'overwrite the file if it exists')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
A consistent snapshot (one read-only transaction): syncs, workers and the API may keep running.
The file is written as <file>.partial and renamed when complete. Restore it with \`qbsync restore --in <file>\`
into an EMPTY database. See docs/RUNBOOK.md.`)
    .action(
      action(async (ctx, opts: { out: string; force?: boolean; json?: boolean }) => {
        const db = await ctx.db({ migrate: false });
        const r = await backupDatabase(db, { out: opts.out, logger: ctx.logger, overwrite: opts.force });
        if (opts.json) {
          process.stdout.write(JSON.stringify(r, null, 2) + '\n');
          return;
        }
        const rows = r.tables.reduce((a, t) => a + t.rows, 0);
        process.stdout.write(`backup written: ${r.file} (${mb(r.bytes)}), ${r.tables.length} tables, ${rows} rows, ${r.migrations.length} migrations, in ${(r.durationMs / 1000).toFixed(1)} s\n`);
      }),
    );

  program
    .command('restore')
    .description('load a `qbsync backup` file into an EMPTY database (DATABASE_URL, or the embedded one)')
    .requiredOption('--in <file>', 'the backup file to read', fileArg('--in'))
    .option('--check', 'only read the file and verify every table\'s checksum (no database is touched)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
The target database must be empty (no qbsync tables). The schema is created by the migrations the backup lists,
then all data is loaded in one transaction and every table's row count and SHA-256 checked against the file;
migrations newer than the backup are applied afterwards. If the load fails nothing is loaded: drop and re-create
the database before trying again.

Examples:
  qbsync restore --in qbsync-2026-11-25.qbk --check
  DATABASE_URL=postgres://qbsync:…@db:5432/qbsync_restored qbsync restore --in qbsync-2026-11-25.qbk`)
    .action(
      action(async (ctx, opts: { in: string; check?: boolean; json?: boolean }) => {
        if (opts.check) {
          const r = await checkBackupFile(opts.in);
          if (opts.json) {
            process.stdout.write(JSON.stringify(r, null, 2) + '\n');
            return;
          }
          const h = r.header;
          process.stdout.write(
            `${opts.in}: complete and intact\n  made ${h.created_at} by qbsync ${h.qbsync_version} from ${h.database} (PostgreSQL ${h.server_version})\n` +
              `  ${h.migrations.length} migrations, pg-boss schema ${h.pgboss_schema_version ?? '-'}, ${r.sequences.length} sequences\n`,
          );
          for (const t of r.tables) process.stdout.write(`  ${`${t.schema}.${t.name}`.padEnd(36)} ${String(t.rows).padStart(10)} rows ${mb(t.bytes).padStart(11)}\n`);
          return;
        }
        const db = await ctx.db({ migrate: false });
        const r = await restoreDatabase(db, { in: opts.in, logger: ctx.logger });
        if (opts.json) {
          process.stdout.write(JSON.stringify(r, null, 2) + '\n');
          return;
        }
        const rows = r.tables.reduce((a, t) => a + t.rows, 0);
        process.stdout.write(
          `restored ${r.tables.length} tables (${rows} rows, checksums verified) from ${r.file} in ${(r.durationMs / 1000).toFixed(1)} s` +
            `${r.migrationsAppliedAfter.length ? `; then applied ${r.migrationsAppliedAfter.length} newer migration(s)` : ''}\n`,
        );
        for (const w of r.warnings) process.stdout.write(`warning: ${w}\n`);
      }),
    );
}
