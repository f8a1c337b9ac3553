import type { Knex } from 'knex';

/**
 * The immutable raw landing (schema `raw`): every QBench response that carried data is one event in
 * raw.fetches, and its body is stored once in raw.page_bodies, addressed by the SHA-256 of its canonical
 * JSON without QBench's random extra key (kept on the event instead), so an unchanged page re-fetched
 * costs one event row, not another copy of the body.
 *
 * Triggers refuse UPDATE, DELETE and TRUNCATE. The single exception is the explicit retention command,
 * which sets the transaction-local flag qbsync.allow_raw_prune and may only DELETE.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE SCHEMA IF NOT EXISTS raw;

    CREATE TABLE raw.page_bodies (
      sha256        text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
      body          jsonb NOT NULL,
      bytes         integer NOT NULL,
      first_seen_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE raw.fetches (
      id           bigserial PRIMARY KEY,
      run_id       uuid NOT NULL,
      entity       text NOT NULL,
      kind         text NOT NULL CHECK (kind IN ('list', 'detail', 'updates')),
      endpoint     text NOT NULL,
      params       jsonb NOT NULL DEFAULT '{}',
      window_start timestamptz,
      window_end   timestamptz,
      page_number  integer,
      page_size    integer,
      http_status  smallint NOT NULL,
      record_count integer NOT NULL,
      body_sha256  text NOT NULL REFERENCES raw.page_bodies (sha256),
      extra_keys   jsonb,
      fetched_at   timestamptz NOT NULL,
      duration_ms  integer NOT NULL,
      attempts     smallint NOT NULL DEFAULT 1,
      -- Identity of a page within a resumable pass (pass id / entity / window / page). Unique, so a page
      -- committed before a crash can never be landed twice by the run that resumes the pass.
      page_key     text
    );
    CREATE UNIQUE INDEX fetches_page_key_uq ON raw.fetches (page_key) WHERE page_key IS NOT NULL;
    CREATE INDEX fetches_entity_id_idx ON raw.fetches (entity, id);
    CREATE INDEX fetches_run_idx ON raw.fetches (run_id);
    CREATE INDEX fetches_body_idx ON raw.fetches (body_sha256);
    CREATE INDEX fetches_window_idx ON raw.fetches (entity, window_start, window_end) WHERE window_start IS NOT NULL;

    CREATE FUNCTION raw.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' AND current_setting('qbsync.allow_raw_prune', true) = 'on' THEN
        RETURN OLD;
      END IF;
      RAISE EXCEPTION 'raw.% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'raw events are immutable; use qbsync raw prune for retention';
    END $$;

    CREATE TRIGGER page_bodies_immutable BEFORE UPDATE OR DELETE ON raw.page_bodies
      FOR EACH ROW EXECUTE FUNCTION raw.refuse_change();
    CREATE TRIGGER fetches_immutable BEFORE UPDATE OR DELETE ON raw.fetches
      FOR EACH ROW EXECUTE FUNCTION raw.refuse_change();
    CREATE TRIGGER page_bodies_no_truncate BEFORE TRUNCATE ON raw.page_bodies
      FOR EACH STATEMENT EXECUTE FUNCTION raw.refuse_change();
    CREATE TRIGGER fetches_no_truncate BEFORE TRUNCATE ON raw.fetches
      FOR EACH STATEMENT EXECUTE FUNCTION raw.refuse_change();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP SCHEMA IF EXISTS raw CASCADE');
}
