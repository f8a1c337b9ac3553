/**
 * Scheduled incremental syncs through pg-boss cron: one schedule on the sync queue. Every worker runs the
 * pg-boss clock; pg-boss makes sure one job is sent per cron tick however many workers there are. A
 * scheduled job carries no run id: the worker creates the run when it starts, or records it as skipped when
 * another sync holds the lock (a schedule never queues up behind a long sync).
 */
import { UsageError } from '../core/index.js';
import { QUEUES, type PgBoss } from '../core/boss.js';
import type { SyncJobData } from './enqueue.js';

export const SCHEDULE_KEY = 'schedule';

export interface SyncSchedule {
  cron: string;
  timezone: string;
  data: unknown;
}

/** Sets (or replaces) the schedule. A cron expression pg-boss cannot parse is a usage error naming it. */
export async function setSyncSchedule(boss: PgBoss, cron: string, timezone = 'UTC'): Promise<void> {
  // pg-boss's parser fills in fields that are left out: "" or "* * *" would schedule a sync every minute.
  const fields = cron.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5) {
    throw new UsageError(`"${cron.slice(0, 100)}" is not a valid cron expression (${fields.length} fields, not 5: minute hour day-of-month month day-of-week); e.g. "*/15 * * * *" for every 15 minutes`);
  }
  const data: SyncJobData = { mode: 'incremental', entities: [], requestedBy: 'schedule' };
  try {
    await boss.schedule(QUEUES.sync, cron, data, { tz: timezone, singletonKey: SCHEDULE_KEY });
  } catch (err) {
    const msg = (err as Error).message;
    if (/validation|constraint|invalid|expression|alias|cron|range/i.test(msg) && !/relation|connect|ECONN/i.test(msg)) {
      throw new UsageError(`"${cron.slice(0, 100)}" is not a valid cron expression (${msg}); e.g. "*/15 * * * *" for every 15 minutes`);
    }
    throw err;
  }
}

export async function clearSyncSchedule(boss: PgBoss): Promise<boolean> {
  const had = (await getSyncSchedule(boss)) !== null;
  await boss.unschedule(QUEUES.sync);
  return had;
}

export async function getSyncSchedule(boss: PgBoss): Promise<SyncSchedule | null> {
  const all = (await boss.getSchedules()) as Array<PgBoss.Schedule & { timezone?: string }>;
  const s = all.find((x) => x.name === QUEUES.sync);
  return s ? { cron: s.cron, timezone: s.timezone ?? s.options?.tz ?? 'UTC', data: s.data } : null;
}
