import type { Knex } from 'knex';

/**
 * Backfill by date range, parent recovery, and the per-record index of raw.
 *
 * - qbsync.backfills / qbsync.backfill_chunks: one backfill = one entity set × [range_from, range_to), split into
 *   chunks (entity × [chunk_start, chunk_end)), each worked once (a session advisory lock per chunk while it
 *   runs; `next_page` moves in the landing transaction, so a killed chunk resumes where it stopped).
 * - qbsync.recovery_log: parents fetched by id because a landed child pointed at a record raw did not hold, and
 *   the ones QBench could not give (404 → unknown_<entity>), with the number of tries (given up after 3).
 * - qbsync.raw_records: the newest version of every record id seen in raw (entity, id, last_updated, md5 of the
 *   record, date_created), kept by an AFTER INSERT trigger on raw.fetches, so every landing (sync, backfill,
 *   recovery) keeps it current in its own transaction. It is what a backfill compares a record against
 *   (inserted / updated / unchanged), what parent recovery asks "is this id in raw?", and what the volumetry
 *   counts per window. It is derived data (rebuildable from raw), not part of the immutable log.
 */
const rawSql = (sql: string): string => sql.replace(/\?/g, '\\?');

export async function up(knex: Knex): Promise<void> {
  await knex.raw(rawSql(String.raw`
    ------------------------------------------------------------------------------ record helpers (never raise)
    -- A record's id as bigint (number or digit string), else NULL.
    CREATE FUNCTION qbsync.rr_id(r jsonb) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN jsonb_typeof(r -> 'id') IN ('number', 'string') AND (r ->> 'id') ~ '^\d{1,18}$' THEN (r ->> 'id')::bigint END
    $$;

    -- A UTC instant from parts, or NULL when they are not a real date/time (checked before make_timestamptz,
    -- nested CASEs so nothing is evaluated out of order: these helpers never raise).
    CREATE FUNCTION qbsync.rr_utc(y int, m int, d int, h int, mi int, s numeric) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN y BETWEEN 1900 AND 2200 AND m BETWEEN 1 AND 12 AND h BETWEEN 0 AND 23 AND mi BETWEEN 0 AND 59 AND s >= 0 AND s < 60 THEN
               CASE WHEN d BETWEEN 1 AND (CASE WHEN m = 2 THEN CASE WHEN (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0 THEN 29 ELSE 28 END
                                               WHEN m IN (4, 6, 9, 11) THEN 30 ELSE 31 END)
                    THEN make_timestamptz(y, m, d, h, mi, s::float8, 'UTC') END END
    $$;

    -- The rarer spellings: 1-digit parts, seconds, 24-hour clock, ISO 8601 (no offset = UTC).
    CREATE FUNCTION qbsync.rr_ts_other(t text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE
        WHEN t ~ '^\d{1,2}/\d{1,2}/\d{4}( +\d{1,2}:\d{2}(:\d{2})? *([AaPp][Mm])?)?$' THEN (
          SELECT qbsync.rr_utc(q[3]::int, q[1]::int, q[2]::int,
                               CASE WHEN q[7] IS NULL THEN coalesce(q[4], '0')::int
                                    WHEN q[4]::int BETWEEN 1 AND 12 THEN q[4]::int % 12 + CASE WHEN upper(q[7]) = 'PM' THEN 12 ELSE 0 END
                                    ELSE 99 END,
                               coalesce(q[5], '0')::int, coalesce(q[6], '0')::numeric)
          FROM regexp_match(t, '^(\d{1,2})/(\d{1,2})/(\d{4})(?: +(\d{1,2}):(\d{2})(?::(\d{2}))? *([AaPp][Mm])?)?$') AS q)
        WHEN t ~ '^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?$' THEN (
          SELECT qbsync.rr_utc(q[1]::int, q[2]::int, q[3]::int, coalesce(q[4], '0')::int, coalesce(q[5], '0')::int, coalesce(q[6], '0')::numeric)
                 - CASE WHEN q[7] IS NULL OR q[7] = 'Z' THEN interval '0'
                        ELSE (CASE WHEN left(q[7], 1) = '-' THEN -1 ELSE 1 END)
                             * (substr(replace(q[7], ':', ''), 2, 2)::int * interval '1 hour' + substr(replace(q[7], ':', ''), 4, 2)::int * interval '1 minute') END
          FROM regexp_match(t, '^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}(?:\.\d{1,6})?))?)?(Z|[+-]\d{2}:?\d{2})?$') AS q)
      END
    $$;

    -- A QBench date (UTC): "MM/DD/YYYY hh:mm AM/PM" (the usual one: fixed positions, no regex captures, so the
    -- planner inlines it), "MM/DD/YYYY", unix seconds, and the rarer spellings above; NULL otherwise.
    CREATE FUNCTION qbsync.rr_ts(t text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE
        WHEN t IS NULL THEN NULL
        WHEN t ~ '^\d\d/\d\d/\d{4} \d\d:\d\d [AP]M$' THEN
          qbsync.rr_utc(substr(t, 7, 4)::int, substr(t, 1, 2)::int, substr(t, 4, 2)::int,
                        CASE WHEN substr(t, 12, 2)::int BETWEEN 1 AND 12 THEN substr(t, 12, 2)::int % 12 + CASE WHEN substr(t, 18, 2) = 'PM' THEN 12 ELSE 0 END ELSE 99 END,
                        substr(t, 15, 2)::int, 0)
        WHEN t ~ '^\d\d/\d\d/\d{4}$' THEN qbsync.rr_utc(substr(t, 7, 4)::int, substr(t, 1, 2)::int, substr(t, 4, 2)::int, 0, 0, 0)
        WHEN t ~ '^\d{9,11}$' THEN to_timestamp(t::bigint)
        ELSE qbsync.rr_ts_other(t)
      END
    $$;

    -- QBench last_updated (unix seconds as a string or number; a date string as a fallback) as unix seconds.
    CREATE FUNCTION qbsync.rr_lu(r jsonb) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN (r ->> 'last_updated') ~ '^\d{1,12}(\.\d+)?$' THEN floor((r ->> 'last_updated')::numeric)::bigint
                  ELSE extract(epoch FROM qbsync.rr_ts(r ->> 'last_updated'))::bigint END
    $$;

    -- The records a raw body carries: list pages' data[], a detail's bare object, an Updates answer's objects.
    CREATE FUNCTION qbsync.rr_records(kind text, body jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE
        WHEN kind = 'list' AND jsonb_typeof(body -> 'data') = 'array' THEN body -> 'data'
        WHEN kind = 'detail' AND jsonb_typeof(body) = 'object' THEN jsonb_build_array(body)
        WHEN kind = 'updates' AND jsonb_typeof(body -> 'updated') = 'array' THEN body -> 'updated'
        ELSE '[]'::jsonb END
    $$;

    ------------------------------------------------------------------------------ raw_records
    CREATE TABLE qbsync.raw_records (
      entity         text NOT NULL,
      id             bigint NOT NULL,
      last_updated   bigint,
      record_md5     text,
      date_created   timestamptz,
      deleted        boolean NOT NULL DEFAULT false,
      first_fetch_id bigint NOT NULL,
      fetch_id       bigint NOT NULL,
      PRIMARY KEY (entity, id)
    );
    CREATE INDEX raw_records_created_idx ON qbsync.raw_records (entity, date_created);
    COMMENT ON TABLE qbsync.raw_records IS
      'Newest version of each record id in raw (kept by trigger raw.fetches → qbsync.track_raw_records); derived, rebuildable.';

    -- Statement-level (one run per landing statement, however many events it inserts). A version replaces the
    -- stored one only when QBench's last_updated is newer (or, when neither has one, when the record differs;
    -- the md5 is only kept for records without last_updated). Rows are written in (entity, id) order, so
    -- concurrent landings lock them in the same order.
    CREATE FUNCTION qbsync.track_raw_records() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO qbsync.raw_records AS r (entity, id, last_updated, record_md5, date_created, first_fetch_id, fetch_id)
      SELECT x.entity, x.id, x.lu, x.md5, x.dc, x.fid, x.fid
      FROM (
        SELECT DISTINCT ON (f.entity, v.id) f.entity, v.id, v.lu, CASE WHEN v.lu IS NULL THEN md5(rec::text) END AS md5,
               qbsync.rr_ts(rec ->> 'date_created') AS dc, f.id AS fid
        FROM new_fetches f
        JOIN raw.page_bodies b ON b.sha256 = f.body_sha256
        CROSS JOIN LATERAL jsonb_array_elements(qbsync.rr_records(f.kind, b.body)) AS rec
        CROSS JOIN LATERAL (SELECT qbsync.rr_id(rec) AS id, qbsync.rr_lu(rec) AS lu) AS v
        WHERE jsonb_typeof(rec) = 'object' AND v.id IS NOT NULL
          -- A body landed before for this entity carried the same records: they are indexed already.
          AND NOT EXISTS (SELECT 1 FROM raw.fetches o WHERE o.body_sha256 = f.body_sha256 AND o.entity = f.entity AND o.kind = f.kind
                            AND o.id < f.id AND o.id NOT IN (SELECT id FROM new_fetches))
        ORDER BY f.entity, v.id, v.lu DESC NULLS LAST, f.id DESC
      ) x
      ORDER BY x.entity, x.id
      ON CONFLICT (entity, id) DO UPDATE
        SET last_updated = EXCLUDED.last_updated, record_md5 = EXCLUDED.record_md5,
            date_created = coalesce(EXCLUDED.date_created, r.date_created), fetch_id = EXCLUDED.fetch_id, deleted = false
        WHERE EXCLUDED.last_updated > r.last_updated
           OR (r.last_updated IS NULL AND EXCLUDED.last_updated IS NOT NULL)
           OR (r.last_updated IS NULL AND EXCLUDED.last_updated IS NULL AND r.record_md5 IS DISTINCT FROM EXCLUDED.record_md5);
      IF EXISTS (SELECT 1 FROM new_fetches WHERE kind = 'updates') THEN
        UPDATE qbsync.raw_records r SET deleted = true
        FROM (SELECT DISTINCT f.entity, coalesce(qbsync.rr_id(jsonb_build_object('id', d)), qbsync.rr_id(d)) AS id
              FROM new_fetches f
              JOIN raw.page_bodies b ON b.sha256 = f.body_sha256
              CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(b.body -> 'deleted') = 'array' THEN b.body -> 'deleted' ELSE '[]' END) AS d
              WHERE f.kind = 'updates') del
        WHERE r.entity = del.entity AND r.id = del.id AND NOT r.deleted;
      END IF;
      RETURN NULL;
    END $$;

    CREATE TRIGGER fetches_track_records AFTER INSERT ON raw.fetches
      REFERENCING NEW TABLE AS new_fetches
      FOR EACH STATEMENT EXECUTE FUNCTION qbsync.track_raw_records();

    -- What raw already holds (databases migrated after data was landed).
    INSERT INTO qbsync.raw_records (entity, id, last_updated, record_md5, date_created, first_fetch_id, fetch_id)
    SELECT DISTINCT ON (f.entity, qbsync.rr_id(rec)) f.entity, qbsync.rr_id(rec), qbsync.rr_lu(rec),
           CASE WHEN qbsync.rr_lu(rec) IS NULL THEN md5(rec::text) END,
           qbsync.rr_ts(rec ->> 'date_created'), f.id, f.id
    FROM raw.fetches f
    JOIN raw.page_bodies b ON b.sha256 = f.body_sha256
    CROSS JOIN LATERAL jsonb_array_elements(qbsync.rr_records(f.kind, b.body)) AS rec
    WHERE jsonb_typeof(rec) = 'object' AND qbsync.rr_id(rec) IS NOT NULL
    ORDER BY f.entity, qbsync.rr_id(rec), qbsync.rr_lu(rec) DESC NULLS LAST, f.id DESC;

    ------------------------------------------------------------------------------ backfills
    CREATE TABLE qbsync.backfills (
      backfill_id   uuid PRIMARY KEY,
      entities      text[] NOT NULL,
      range_from    timestamptz NOT NULL,
      range_to      timestamptz NOT NULL CHECK (range_to > range_from),
      chunk_days    integer NOT NULL CHECK (chunk_days >= 1),
      page_size     integer NOT NULL CHECK (page_size BETWEEN 1 AND 50),
      status        text NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'superseded')),
      requested_by  text NOT NULL DEFAULT 'cli',
      created_at    timestamptz NOT NULL DEFAULT now(),
      finished_at   timestamptz,
      volumetry     jsonb,
      error         text
    );
    -- "The same backfill" = the same entity set and range; --again supersedes the old one.
    CREATE UNIQUE INDEX backfills_identity_uq ON qbsync.backfills (entities, range_from, range_to) WHERE status <> 'superseded';

    CREATE TABLE qbsync.backfill_chunks (
      chunk_id      bigserial PRIMARY KEY,
      backfill_id   uuid NOT NULL REFERENCES qbsync.backfills (backfill_id) ON DELETE CASCADE,
      entity        text NOT NULL,
      -- NULL bounds: the "undated" chunk (customers whose date_created is null).
      chunk_start   timestamptz,
      chunk_end     timestamptz,
      status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
      attempts      integer NOT NULL DEFAULT 0,
      failures      integer NOT NULL DEFAULT 0,
      start_page    integer,
      next_page     integer,
      total_pages   integer,
      pages         integer NOT NULL DEFAULT 0,
      rows          integer NOT NULL DEFAULT 0,
      inserted      integer NOT NULL DEFAULT 0,
      updated       integer NOT NULL DEFAULT 0,
      unchanged     integer NOT NULL DEFAULT 0,
      skipped       integer NOT NULL DEFAULT 0,
      details       integer NOT NULL DEFAULT 0,
      requests      integer NOT NULL DEFAULT 0,
      skipped_pages jsonb NOT NULL DEFAULT '[]',
      duration_ms   integer NOT NULL DEFAULT 0,
      started_at    timestamptz,
      finished_at   timestamptz,
      job_id        uuid,
      host          text,
      pid           integer,
      error         text,
      UNIQUE NULLS NOT DISTINCT (backfill_id, entity, chunk_start)
    );
    CREATE INDEX backfill_chunks_open_idx ON qbsync.backfill_chunks (backfill_id, status) WHERE status IN ('pending', 'running');

    ------------------------------------------------------------------------------ recovery_log
    CREATE TABLE qbsync.recovery_log (
      entity        text NOT NULL,
      record_id     bigint NOT NULL,
      status        text NOT NULL CHECK (status IN ('recovered', 'failed')),
      reason        text,
      attempts      integer NOT NULL DEFAULT 0,
      child_entity  text,
      child_id      bigint,
      run_id        uuid,
      fetch_id      bigint,
      first_at      timestamptz NOT NULL DEFAULT now(),
      last_at       timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (entity, record_id)
    );
    CREATE INDEX recovery_log_run_idx ON qbsync.recovery_log (run_id);
  `));
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE IF EXISTS qbsync.recovery_log;
    DROP TABLE IF EXISTS qbsync.backfill_chunks;
    DROP TABLE IF EXISTS qbsync.backfills;
    DROP TRIGGER IF EXISTS fetches_track_records ON raw.fetches;
    DROP FUNCTION IF EXISTS qbsync.track_raw_records();
    DROP TABLE IF EXISTS qbsync.raw_records;
    DROP FUNCTION IF EXISTS qbsync.rr_records(text, jsonb);
    DROP FUNCTION IF EXISTS qbsync.rr_lu(jsonb);
    DROP FUNCTION IF EXISTS qbsync.rr_ts(text);
    DROP FUNCTION IF EXISTS qbsync.rr_ts_other(text);
    DROP FUNCTION IF EXISTS qbsync.rr_utc(int, int, int, int, int, numeric);
    DROP FUNCTION IF EXISTS qbsync.rr_id(jsonb);
  `);
}
