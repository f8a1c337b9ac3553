import type { Knex } from 'knex';

/**
 * The per-record index of raw, off the landing path.
 *
 * Until now two derived structures were maintained inside every landing statement: qbsync.raw_records (by the
 * statement trigger raw.fetches → qbsync.track_raw_records) and the GIN index raw.page_bodies_record_ids_idx
 * on qbsync.body_record_ids(body). Together they tripled a landing's database time. Both are replaced by an
 * incremental indexer that runs where the derived data is read:
 *
 * - qbsync.index_raw(upto bigint DEFAULT NULL): indexes the events with id in (high-water mark, upto] and moves
 *   the mark to upto, in one transaction, serialised by an advisory transaction lock (concurrent callers wait,
 *   then find the work done). With upto NULL it first takes SHARE on raw.fetches (waits for the landings in
 *   flight, blocks new ones until it commits) and indexes up to max(id). Callers that must not block landings
 *   while indexing (ingest/raw-index.ts) take that barrier in a short transaction of their own and pass upto.
 *   Why a barrier at all: ids come from a sequence, so a landing that committed late can hold an id below one
 *   that committed early; the mark may only pass ids no transaction in flight can still commit.
 * - qbsync.raw_records(entity, id): unchanged table; the same rules as the trigger applied one event at a time in
 *   id order (a version replaces the stored one when its last_updated is newer, or, when neither has one, when
 *   the record differs; a body already landed for the entity and kind is skipped; ids in an Updates answer's
 *   deleted[] mark the record deleted until a newer version replaces it), computed per batch.
 * - qbsync.raw_record_events(entity, id, fetch_id): every event that carried a record (records_of, as the typed
 *   transforms and the history endpoint read them), for GET /api/v1/entities/{kind}/{id}/history.
 * - qbsync.raw_index_state: the high-water mark (one row, created by the first call that indexes something).
 *
 * Rebuild from raw: SELECT qbsync.rebuild_raw_index(); (or `qbsync raw index --rebuild`). Raw's immutability
 * triggers are untouched: nothing here writes raw.
 */
/** knex.raw reads `?` as a binding placeholder; the SQL's own (regex quantifiers) are escaped. */
const rawSql = (sql: string): string => sql.replace(/\?/g, '\\?');

export async function up(knex: Knex): Promise<void> {
  await knex.raw(rawSql(String.raw`
    DROP TRIGGER fetches_track_records ON raw.fetches;
    DROP FUNCTION qbsync.track_raw_records();
    DROP INDEX raw.page_bodies_record_ids_idx;

    -- The record helpers of 20261126000001, same results, now inlinable by the planner: make_timestamptz(…, 'UTC') and
    -- extract(epoch FROM timestamptz) are STABLE, which kept rr_utc and rr_lu from being inlined into the queries
    -- that call them (a function call per record, most of the indexer's time). The 12-hour clock gets its own helper
    -- so the hour is not an expression passed to rr_utc (an expensive argument used twice also blocks inlining).
    CREATE OR REPLACE FUNCTION qbsync.rr_utc(y int, m int, d int, h int, mi int, s numeric) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
      SELECT CASE WHEN y BETWEEN 1900 AND 2200 AND m BETWEEN 1 AND 12 AND h BETWEEN 0 AND 23 AND mi BETWEEN 0 AND 59 AND s >= 0 AND s < 60 THEN
               CASE WHEN d BETWEEN 1 AND (CASE WHEN m = 2 THEN CASE WHEN (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0 THEN 29 ELSE 28 END
                                               WHEN m IN (4, 6, 9, 11) THEN 30 ELSE 31 END)
                    THEN make_timestamp(y, m, d, h, mi, s::float8) AT TIME ZONE 'UTC' END END
    $fn$;

    CREATE FUNCTION qbsync.rr_utc12(y int, m int, d int, h12 int, mi int, pm boolean) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
      SELECT CASE WHEN y BETWEEN 1900 AND 2200 AND m BETWEEN 1 AND 12 AND h12 BETWEEN 1 AND 12 AND mi BETWEEN 0 AND 59
                       AND d BETWEEN 1 AND (CASE WHEN m = 2 THEN CASE WHEN (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0 THEN 29 ELSE 28 END
                                                 WHEN m IN (4, 6, 9, 11) THEN 30 ELSE 31 END)
                  THEN make_timestamp(y, m, d, h12 % 12 + CASE WHEN pm THEN 12 ELSE 0 END, mi, 0) AT TIME ZONE 'UTC' END
    $fn$;

    CREATE OR REPLACE FUNCTION qbsync.rr_ts(t text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
      SELECT CASE
        WHEN t IS NULL THEN NULL
        WHEN t ~ '^\d\d/\d\d/\d{4} \d\d:\d\d [AP]M$' THEN
          qbsync.rr_utc12(substr(t, 7, 4)::int, substr(t, 1, 2)::int, substr(t, 4, 2)::int, substr(t, 12, 2)::int, substr(t, 15, 2)::int,
                          substr(t, 18, 2) = 'PM')
        WHEN t ~ '^\d\d/\d\d/\d{4}$' THEN qbsync.rr_utc(substr(t, 7, 4)::int, substr(t, 1, 2)::int, substr(t, 4, 2)::int, 0, 0, 0)
        WHEN t ~ '^\d{9,11}$' THEN to_timestamp(t::bigint)
        ELSE qbsync.rr_ts_other(t)
      END
    $fn$;

    CREATE OR REPLACE FUNCTION qbsync.rr_lu(r jsonb) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
      SELECT CASE WHEN (r ->> 'last_updated') ~ '^\d{1,12}(\.\d+)?$' THEN floor((r ->> 'last_updated')::numeric)::bigint
                  ELSE extract(epoch FROM qbsync.rr_ts(r ->> 'last_updated') AT TIME ZONE 'UTC')::bigint END
    $fn$;

    CREATE TABLE qbsync.raw_index_state (
      singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      last_fetch_id bigint NOT NULL,
      indexed_at    timestamptz NOT NULL DEFAULT now()
    );
    COMMENT ON TABLE qbsync.raw_index_state IS
      'High-water mark of qbsync.index_raw(): raw.fetches with id <= last_fetch_id are in raw_records and raw_record_events.';

    CREATE TABLE qbsync.raw_record_events (
      entity   text NOT NULL,
      id       bigint NOT NULL,
      fetch_id bigint NOT NULL,
      PRIMARY KEY (entity, id, fetch_id)
    );
    COMMENT ON TABLE qbsync.raw_record_events IS
      'Every raw event that carried a record (kept by qbsync.index_raw()); derived, rebuildable. Rows of pruned events are removed by the prune.';
    COMMENT ON TABLE qbsync.raw_records IS
      'Newest version of each record id in raw (kept by qbsync.index_raw()); derived, rebuildable.';

    -- One slice (lo, hi] of raw.fetches into raw_record_events and raw_records. Internal: called by index_raw.
    CREATE FUNCTION qbsync.index_raw_slice(lo bigint, hi bigint) RETURNS void
    LANGUAGE sql AS $fn$
      WITH fx AS MATERIALIZED (
        -- The slice's events. "fresh": no earlier event of the entity and kind carried the same body (its records were
        -- applied then; applying them again would change nothing but the rare flip-back of an undated record).
        SELECT f.id AS fid, f.entity, f.kind, f.body_sha256,
               NOT EXISTS (SELECT 1 FROM raw.fetches o
                           WHERE o.body_sha256 = f.body_sha256 AND o.entity = f.entity AND o.kind = f.kind AND o.id < f.id) AS fresh
        FROM raw.fetches f
        WHERE f.id > lo AND f.id <= hi
      ), recs AS MATERIALIZED (
        SELECT fx.entity, fx.fid, r.ord, x.rid, x.versioned,
               CASE WHEN x.versioned THEN qbsync.rr_lu(r.rec) END AS lu,
               CASE WHEN x.versioned AND qbsync.rr_lu(r.rec) IS NULL THEN md5(r.rec::text) END AS md5,
               CASE WHEN x.versioned THEN qbsync.rr_ts(r.rec ->> 'date_created') END AS dc
        FROM fx
        JOIN raw.page_bodies b ON b.sha256 = fx.body_sha256
        CROSS JOIN LATERAL jsonb_array_elements(qbsync.records_of(fx.kind, b.body)) WITH ORDINALITY AS r(rec, ord)
        -- raw_records takes what qbsync.rr_records gives: not the object inside a detail's {"data": {...}} wrapper
        CROSS JOIN LATERAL (SELECT qbsync.rr_id(r.rec) AS rid,
                                   fx.fresh AND NOT (fx.kind = 'detail' AND (b.body -> 'id') IS NULL) AS versioned) AS x
        WHERE jsonb_typeof(r.rec) = 'object' AND x.rid IS NOT NULL
      ), ev AS (
        INSERT INTO qbsync.raw_record_events (entity, id, fetch_id)
        SELECT DISTINCT entity, rid, fid FROM recs
        ON CONFLICT DO NOTHING
      ), vr AS (
        -- Each version with what came before it: the stored row, and the slice's earlier versions of the record.
        SELECT x.entity, x.rid, x.fid, x.ord, x.lu, x.md5, x.dc, r.id IS NOT NULL AS stored, r.record_md5 AS stored_md5,
               greatest(r.last_updated, max(x.lu) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) AS lu_before,
               lag(x.md5) OVER w AS md5_before, row_number() OVER w AS n, min(x.fid) OVER (PARTITION BY x.entity, x.rid) AS first_fid
        FROM recs x
        LEFT JOIN qbsync.raw_records r ON r.entity = x.entity AND r.id = x.rid
        WHERE x.versioned
        WINDOW w AS (PARTITION BY x.entity, x.rid ORDER BY x.fid, x.ord)
      ), reps AS (
        -- The versions that replace the stored one, applied one event at a time in id order: the first ever (it inserts
        -- the row); one whose last_updated is newer than every earlier one (or the first to have one); without any
        -- last_updated so far, one whose content differs from the version before it.
        SELECT * FROM vr
        WHERE CASE WHEN n = 1 AND NOT stored THEN true
                   WHEN lu IS NOT NULL THEN lu_before IS NULL OR lu > lu_before
                   ELSE lu_before IS NULL AND md5 IS DISTINCT FROM (CASE WHEN n = 1 THEN stored_md5 ELSE md5_before END) END
      ), fin AS (
        -- Where each record ends: the last replacement, with the last date_created any replacement carried.
        SELECT entity, rid, max(fid) AS fid, min(first_fid) AS first_fid,
               (array_agg(lu ORDER BY fid DESC, ord DESC))[1] AS lu,
               (array_agg(md5 ORDER BY fid DESC, ord DESC))[1] AS md5,
               (array_agg(dc ORDER BY fid DESC, ord DESC) FILTER (WHERE dc IS NOT NULL))[1] AS dc
        FROM reps GROUP BY entity, rid
      ), dels AS (
        SELECT fx.entity, coalesce(qbsync.rr_id(jsonb_build_object('id', d.v)), qbsync.rr_id(d.v)) AS rid, max(fx.fid) AS dmax
        FROM fx
        JOIN raw.page_bodies b ON b.sha256 = fx.body_sha256
        CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(b.body -> 'deleted') = 'array' THEN b.body -> 'deleted' ELSE '[]' END) AS d(v)
        WHERE fx.kind = 'updates' AND fx.fresh
        GROUP BY 1, 2
      ), m AS (
        SELECT coalesce(s.entity, d.entity) AS entity, coalesce(s.rid, d.rid) AS rid, s.lu, s.md5, s.dc, s.fid, s.first_fid, d.dmax
        FROM fin s
        FULL JOIN dels d ON d.entity = s.entity AND d.rid = s.rid
        WHERE coalesce(s.rid, d.rid) IS NOT NULL
      )
      -- A deletion counts when it came at or after the version the record ends on (an Updates answer listing an id in both
      -- updated[] and deleted[] deletes it); a replacement after it un-deletes the record.
      MERGE INTO qbsync.raw_records r
      USING m ON r.entity = m.entity AND r.id = m.rid
      WHEN MATCHED AND m.fid IS NOT NULL THEN
        UPDATE SET last_updated = m.lu, record_md5 = m.md5, date_created = coalesce(m.dc, r.date_created), fetch_id = m.fid,
                   deleted = coalesce(m.dmax >= m.fid, false)
      WHEN MATCHED AND m.dmax IS NOT NULL AND NOT r.deleted THEN
        UPDATE SET deleted = true
      WHEN NOT MATCHED AND m.fid IS NOT NULL THEN
        INSERT (entity, id, last_updated, record_md5, date_created, deleted, first_fetch_id, fetch_id)
        VALUES (m.entity, m.rid, m.lu, m.md5, m.dc, coalesce(m.dmax >= m.fid, false), m.first_fid, m.fid);
    $fn$;

    -- Indexes raw.fetches with id in (high-water mark, upto] and moves the mark, in the caller's transaction.
    CREATE FUNCTION qbsync.index_raw(upto bigint DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql AS $fn$
    DECLARE
      lo bigint;
      hi bigint;
      n bigint;
    BEGIN
      PERFORM pg_advisory_xact_lock(1902340472, 0); -- 'qbix': one indexer at a time; the next finds the work done
      IF upto IS NULL THEN
        LOCK TABLE raw.fetches IN SHARE MODE;
        SELECT coalesce(max(id), 0) INTO upto FROM raw.fetches;
      END IF;
      lo := coalesce((SELECT last_fetch_id FROM qbsync.raw_index_state), 0);
      IF upto <= lo THEN
        RETURN 0;
      END IF;
      SELECT count(*) INTO n FROM raw.fetches WHERE id > lo AND id <= upto;
      -- Slices of a few thousand events keep a first index of a large raw within memory; the rules do not depend on
      -- where slices start.
      hi := lo;
      WHILE hi < upto LOOP
        PERFORM qbsync.index_raw_slice(hi, least(upto, hi + 4000));
        hi := least(upto, hi + 4000);
      END LOOP;
      INSERT INTO qbsync.raw_index_state AS s (singleton, last_fetch_id, indexed_at) VALUES (true, upto, now())
      ON CONFLICT (singleton) DO UPDATE SET last_fetch_id = EXCLUDED.last_fetch_id, indexed_at = EXCLUDED.indexed_at;
      RETURN n;
    END $fn$;
    COMMENT ON FUNCTION qbsync.index_raw(bigint) IS
      'Indexes raw.fetches above the high-water mark into raw_records and raw_record_events. upto must be an id no landing in flight can still commit below (NULL: take SHARE on raw.fetches and use max(id)).';

    -- Everything again from raw (the tables are derived). Blocks landings while it runs.
    CREATE FUNCTION qbsync.rebuild_raw_index() RETURNS bigint
    LANGUAGE plpgsql AS $fn$
    BEGIN
      PERFORM pg_advisory_xact_lock(1902340472, 0);
      LOCK TABLE raw.fetches IN SHARE MODE;
      TRUNCATE qbsync.raw_records, qbsync.raw_record_events;
      DELETE FROM qbsync.raw_index_state;
      RETURN qbsync.index_raw();
    END $fn$;

    -- What raw already holds, once, with the same rules.
    TRUNCATE qbsync.raw_records;
    SELECT qbsync.index_raw();
  `));
}

export async function down(knex: Knex): Promise<void> {
  // raw_records is brought up to date first; from then on the trigger keeps it again. The record helpers get their
  // previous bodies back (same results).
  await knex.raw(rawSql(String.raw`
    SELECT qbsync.index_raw();
    CREATE OR REPLACE FUNCTION qbsync.rr_utc(y int, m int, d int, h int, mi int, s numeric) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
      SELECT CASE WHEN y BETWEEN 1900 AND 2200 AND m BETWEEN 1 AND 12 AND h BETWEEN 0 AND 23 AND mi BETWEEN 0 AND 59 AND s >= 0 AND s < 60 THEN
               CASE WHEN d BETWEEN 1 AND (CASE WHEN m = 2 THEN CASE WHEN (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0 THEN 29 ELSE 28 END
                                               WHEN m IN (4, 6, 9, 11) THEN 30 ELSE 31 END)
                    THEN make_timestamptz(y, m, d, h, mi, s::float8, 'UTC') END END
    $fn$;
    CREATE OR REPLACE FUNCTION qbsync.rr_ts(t text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
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
    $fn$;
    CREATE OR REPLACE FUNCTION qbsync.rr_lu(r jsonb) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
      SELECT CASE WHEN (r ->> 'last_updated') ~ '^\d{1,12}(\.\d+)?$' THEN floor((r ->> 'last_updated')::numeric)::bigint
                  ELSE extract(epoch FROM qbsync.rr_ts(r ->> 'last_updated'))::bigint END
    $fn$;
    DROP FUNCTION qbsync.rr_utc12(int, int, int, int, int, boolean);
    DROP FUNCTION qbsync.rebuild_raw_index();
    DROP FUNCTION qbsync.index_raw(bigint);
    DROP FUNCTION qbsync.index_raw_slice(bigint, bigint);
    DROP TABLE qbsync.raw_record_events;
    DROP TABLE qbsync.raw_index_state;
    CREATE INDEX page_bodies_record_ids_idx ON raw.page_bodies USING gin (qbsync.body_record_ids(body));

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
  `));
}
