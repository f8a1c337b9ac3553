import type { Knex } from 'knex';

/**
 * Control tables in schema `qbsync`: one row per run (sync, backfill, replay) and per entity of a run,
 * and the per-entity checkpoint that lets an interrupted full sync resume where it stopped.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE SCHEMA IF NOT EXISTS qbsync;

    CREATE TABLE qbsync.sync_runs (
      run_id         uuid PRIMARY KEY,
      mode           text NOT NULL CHECK (mode IN ('full', 'incremental', 'backfill', 'replay')),
      entities       text[] NOT NULL,
      status         text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'partial', 'cancelled')),
      requested_by   text NOT NULL DEFAULT 'cli',
      options        jsonb NOT NULL DEFAULT '{}',
      created_at     timestamptz NOT NULL DEFAULT now(),
      started_at     timestamptz,
      finished_at    timestamptz,
      heartbeat_at   timestamptz,
      pages          integer NOT NULL DEFAULT 0,
      records        integer NOT NULL DEFAULT 0,
      new_bodies     integer NOT NULL DEFAULT 0,
      detail_fetches integer NOT NULL DEFAULT 0,
      requests       integer NOT NULL DEFAULT 0,
      retries        integer NOT NULL DEFAULT 0,
      rate_limited   integer NOT NULL DEFAULT 0,
      skipped_pages  jsonb NOT NULL DEFAULT '[]',
      duration_ms    integer,
      error          text,
      host           text,
      pid            integer
    );
    CREATE INDEX sync_runs_created_idx ON qbsync.sync_runs (created_at DESC);
    CREATE INDEX sync_runs_status_idx ON qbsync.sync_runs (status) WHERE status IN ('queued', 'running');

    CREATE TABLE qbsync.sync_run_entities (
      run_id         uuid NOT NULL REFERENCES qbsync.sync_runs (run_id) ON DELETE CASCADE,
      entity         text NOT NULL,
      status         text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'partial', 'skipped')),
      started_at     timestamptz,
      finished_at    timestamptz,
      total_pages    integer,
      pages          integer NOT NULL DEFAULT 0,
      records        integer NOT NULL DEFAULT 0,
      new_bodies     integer NOT NULL DEFAULT 0,
      detail_fetches integer NOT NULL DEFAULT 0,
      requests       integer NOT NULL DEFAULT 0,
      retries        integer NOT NULL DEFAULT 0,
      rate_limited   integer NOT NULL DEFAULT 0,
      skipped_pages  jsonb NOT NULL DEFAULT '[]',
      duration_ms    integer,
      error          text,
      PRIMARY KEY (run_id, entity)
    );

    -- Where a full pass over an entity stands. A pass is identified by the run that started it
    -- (pass_id); a later run that resumes keeps that pass_id, so its pages keep their identity.
    CREATE TABLE qbsync.checkpoints (
      entity        text PRIMARY KEY,
      pass_id       uuid NOT NULL,
      mode          text NOT NULL,
      status        text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
      next_page     integer NOT NULL DEFAULT 1,
      total_pages   integer,
      page_size     integer NOT NULL,
      records       integer NOT NULL DEFAULT 0,
      last_run_id   uuid,
      started_at    timestamptz NOT NULL DEFAULT now(),
      completed_at  timestamptz,
      updated_at    timestamptz NOT NULL DEFAULT now(),
      -- QBench's clock (its Date header) when the pass fetched its first page: changes after this
      -- moment are caught by the first incremental sync.
      server_started_at timestamptz,
      message       text
    );

    -- Incremental sync position per entity, in QBench's clock: the next incremental asks for what
    -- changed since (since_at - overlap).
    CREATE TABLE qbsync.watermarks (
      entity        text PRIMARY KEY,
      since_at      timestamptz NOT NULL,
      source        text NOT NULL CHECK (source IN ('full', 'updates', 'window', 'reset')),
      last_run_id   uuid,
      updated_at    timestamptz NOT NULL DEFAULT now()
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE IF EXISTS qbsync.watermarks;
    DROP TABLE IF EXISTS qbsync.checkpoints;
    DROP TABLE IF EXISTS qbsync.sync_run_entities;
    DROP TABLE IF EXISTS qbsync.sync_runs;
  `);
}
