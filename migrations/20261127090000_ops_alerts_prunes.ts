import type { Knex } from 'knex';

/**
 * Operations (ops/):
 * - qbsync.alerts: every alert qbsync raised (sync failed, watermark stale, 429s persisted), whether it was
 *   delivered to QBSYNC_ALERT_WEBHOOK, and how many tries that took. Also what keeps a stale-watermark alert
 *   to one per entity per QBSYNC_ALERT_STALE_HOURS across every worker.
 * - qbsync.raw_prunes: one row per `qbsync raw prune` that deleted something (counts only, never data), so the
 *   retention history of the append-only raw log stays auditable.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE qbsync.alerts (
      alert_id    bigserial PRIMARY KEY,
      event       text NOT NULL,
      severity    text NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
      entity      text,
      run_id      uuid,
      message     text NOT NULL,
      details     jsonb NOT NULL DEFAULT '{}',
      created_at  timestamptz NOT NULL DEFAULT now(),
      delivered   boolean,
      attempts    integer NOT NULL DEFAULT 0,
      last_error  text
    );
    CREATE INDEX alerts_event_idx ON qbsync.alerts (event, entity, created_at DESC);

    CREATE TABLE qbsync.raw_prunes (
      prune_id         bigserial PRIMARY KEY,
      before_at        timestamptz NOT NULL,
      fetches_deleted  bigint NOT NULL,
      bodies_deleted   bigint NOT NULL,
      bytes_freed      bigint NOT NULL,
      fetches_kept     bigint NOT NULL,
      by_entity        jsonb NOT NULL DEFAULT '[]',
      pruned_at        timestamptz NOT NULL DEFAULT now(),
      host             text,
      duration_ms      integer
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS qbsync.raw_prunes; DROP TABLE IF EXISTS qbsync.alerts;');
}
