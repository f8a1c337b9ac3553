import type { Command } from 'commander';
import { startBoss } from '../../core/boss.js';
import { onShutdown, type Database, type Logger } from '../../core/index.js';
import { setSyncSchedule, clearSyncSchedule, getSyncSchedule } from '../../jobs/index.js';
import { action, timezoneArg } from '../run.js';

async function boss(db: Database, logger: Logger) {
  const b = await startBoss(db.url, logger, { schedule: false, supervise: false });
  onShutdown(() => b.stop({ graceful: false, wait: true }).catch(() => undefined));
  return b;
}

export function register(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('scheduled incremental syncs (run by workers): set, clear or show the cron schedule')
    .addHelpText('after', `
Examples:
  qbsync schedule set "*/15 * * * *"               an incremental sync every 15 minutes
  qbsync schedule set "0 6 * * 1-5" --tz America/Bogota
  qbsync schedule show
  qbsync schedule clear

Workers (qbsync worker) send the scheduled jobs; one job per tick however many workers run. A tick that
finds a sync running is recorded as a skipped run (status cancelled, "skipped: ..."), never queued behind it.
QBSYNC_SYNC_CRON, when set, is applied by every worker at start and replaces what was set here.`);

  schedule
    .command('set <cron>')
    .description('set the schedule (5-field cron: minute hour day-of-month month day-of-week)')
    .option('--tz <zone>', 'IANA timezone the cron fields are read in (default QBSYNC_TIMEZONE)', timezoneArg('--tz'))
    .action(
      action(async (ctx, cron: string, opts: { tz?: string }) => {
        const db = await ctx.db();
        const tz = opts.tz ?? ctx.config.timezone;
        await setSyncSchedule(await boss(db, ctx.logger), cron, tz);
        process.stdout.write(`scheduled incremental syncs: "${cron}" (${tz}); workers run them\n`);
      }),
    );

  schedule
    .command('clear')
    .description('remove the schedule')
    .action(
      action(async (ctx) => {
        const db = await ctx.db();
        const had = await clearSyncSchedule(await boss(db, ctx.logger));
        process.stdout.write(had ? 'schedule cleared: no more scheduled syncs\n' : 'no schedule was set\n');
        if (ctx.config.syncCron) process.stdout.write(`note: QBSYNC_SYNC_CRON="${ctx.config.syncCron}" is set; workers apply it again when they start\n`);
      }),
    );

  schedule
    .command('show')
    .description('print the schedule')
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, opts: { json?: boolean }) => {
        const db = await ctx.db();
        const s = await getSyncSchedule(await boss(db, ctx.logger));
        if (opts.json) process.stdout.write(JSON.stringify(s) + '\n');
        else process.stdout.write(s ? `"${s.cron}" (${s.timezone}): incremental sync of every entity\n` : 'no schedule set (qbsync schedule set "<cron>")\n');
      }),
    );

  for (const c of schedule.commands) c.exitOverride().showHelpAfterError('(run with --help for usage)');
}
