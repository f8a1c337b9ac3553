import type { Command } from 'commander';
import { migrate, pendingMigrations } from '../../core/index.js';
import { action } from '../run.js';

export function register(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (also done automatically at every start)')
    .option('--status', 'list applied and pending migrations instead of applying them')
    .action(
      action(async (ctx, opts: { status?: boolean }) => {
        const db = await ctx.db({ migrate: false });
        if (opts.status) {
          const pending = await pendingMigrations(db.knex);
          const [done] = (await db.knex.migrate.list()) as [Array<{ name: string }>, unknown];
          for (const m of done) process.stdout.write(`applied  ${m.name}\n`);
          for (const m of pending) process.stdout.write(`pending  ${m}\n`);
          return pending.length ? 1 : 0;
        }
        const applied = await migrate(db.knex, ctx.logger);
        process.stdout.write(applied.length ? `applied ${applied.length} migration(s): ${applied.join(', ')}\n` : 'database is up to date\n');
      }),
    );
}
