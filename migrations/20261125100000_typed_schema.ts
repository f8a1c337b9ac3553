import type { Knex } from 'knex';

/**
 * The typed half (issue "Transforms, replay"):
 *
 * - Schema `qbench`: one typed table per QBench entity (customers, orders, samples, batches, tests, assays,
 *   reports) and the daily rollups the metrics read. Filled only by transform/ (transform/sql/*.sql), from raw.
 *   Replay builds a copy of this schema (`qbench_next`, cloned from these definitions with CREATE TABLE … LIKE)
 *   and swaps it in by renaming schemas, so the definitions here are the only DDL of the typed tables.
 * - Schema `qbsync` (control): per-target transform watermarks, per-schema transform settings (the timezone
 *   the rollups' days are counted in), and the small IMMUTABLE typing helpers the transforms use. The helpers
 *   live in `qbsync`, not `qbench`, because `qbench` is dropped and recreated by every replay.
 *
 * Every typed row keeps: `payload` (the full source record, embedded child lists removed), `source_fetch_id`
 * (the raw.fetches id at which the row's current version — its QBench last_updated — was first seen),
 * `last_updated`, `deleted`/`deleted_at` (soft delete) and `parse_errors` (field → {value, error} for every
 * value that did not parse and became NULL; NULL when the row is clean).
 *
 * Requires PostgreSQL 15+ (UNIQUE NULLS NOT DISTINCT on the rollups).
 */
/** knex turns every `?` of a raw query into a bind parameter; the SQL below has `?` in regexes and jsonb operators. */
const rawSql = (sql: string): string => sql.replace(/\?/g, '\\?');

export async function up(knex: Knex): Promise<void> {
  await knex.raw(rawSql(String.raw`
    CREATE SCHEMA IF NOT EXISTS qbsync;
    CREATE SCHEMA qbench;
    COMMENT ON SCHEMA qbench IS 'Typed QBench tables and daily rollups, built from raw.* by transform/ (replaced whole by qbsync replay).';

    ------------------------------------------------------------------------------------------ typing helpers
    -- All return NULL for a value they cannot read (never raise), so one bad value never fails a transform.

    -- A UTC timestamp from parts, or NULL when the parts are not a real date/time (no exception possible:
    -- make_timestamp is only reached once every part has been checked).
    CREATE FUNCTION qbsync.utc_ts(y int, m int, d int, h int, mi int, s numeric) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN y BETWEEN 1900 AND 2200 AND m BETWEEN 1 AND 12 AND h BETWEEN 0 AND 23 AND mi BETWEEN 0 AND 59
                       AND s >= 0 AND s < 60
                  THEN CASE WHEN d BETWEEN 1 AND (CASE WHEN m = 2 THEN CASE WHEN (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0 THEN 29 ELSE 28 END
                                                         WHEN m IN (4, 6, 9, 11) THEN 30 ELSE 31 END)
                            THEN make_timestamp(y, m, d, h, mi, s::float8) AT TIME ZONE 'UTC' END END
    $$;

    -- Hour of a 12-hour clock reading ("12" AM = 0, "12" PM = 12); 99 (invalid) outside 1..12.
    CREATE FUNCTION qbsync.hour24(h12 int, ampm text) RETURNS int
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN h12 BETWEEN 1 AND 12 THEN h12 % 12 + CASE WHEN upper(ampm) = 'PM' THEN 12 ELSE 0 END ELSE 99 END
    $$;

    -- The less common spellings: 1-digit month/day/hour, seconds, no space before AM/PM, 24-hour clock,
    -- ISO 8601 (a value without an offset is UTC), RFC 1123 ("Mon, 13 Oct 2025 13:02:00 GMT").
    CREATE FUNCTION qbsync.parse_ts_other(t text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
      SELECT CASE
        WHEN t ~ '^\d{1,2}/\d{1,2}/\d{4}( +\d{1,2}:\d{2}(:\d{2})? *([AaPp][Mm])?)?$' THEN (
          SELECT CASE WHEN q[7] IS NOT NULL
                      THEN qbsync.utc_ts(q[3]::int, q[1]::int, q[2]::int, qbsync.hour24(q[4]::int, q[7]), q[5]::int, coalesce(q[6], '0')::numeric)
                      ELSE qbsync.utc_ts(q[3]::int, q[1]::int, q[2]::int, coalesce(q[4], '0')::int, coalesce(q[5], '0')::int, coalesce(q[6], '0')::numeric) END
          FROM regexp_match(t, '^(\d{1,2})/(\d{1,2})/(\d{4})(?: +(\d{1,2}):(\d{2})(?::(\d{2}))? *([AaPp][Mm])?)?$') AS q)
        WHEN t ~ '^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?$' THEN (
          SELECT qbsync.utc_ts(q[1]::int, q[2]::int, q[3]::int, coalesce(q[4], '0')::int, coalesce(q[5], '0')::int, coalesce(q[6], '0')::numeric)
                 - CASE WHEN q[7] IS NULL OR q[7] = 'Z' THEN interval '0'
                        ELSE (CASE WHEN left(q[7], 1) = '-' THEN -1 ELSE 1 END)
                             * (substr(replace(q[7], ':', ''), 2, 2)::int * interval '1 hour' + substr(replace(q[7], ':', ''), 4, 2)::int * interval '1 minute') END
          FROM regexp_match(t, '^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}(?:\.\d{1,6})?))?)?(Z|[+-]\d{2}:?\d{2})?$') AS q)
        WHEN t ~ '^[A-Za-z]{3}, \d{1,2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} (GMT|UTC|\+0000)$' THEN (
          SELECT qbsync.utc_ts(q[3]::int,
                               array_position(ARRAY['jan','feb','mar','apr','may','jun','jul','aug','sep','oct','nov','dec'], lower(q[2])),
                               q[1]::int, q[4]::int, q[5]::int, q[6]::numeric)
          FROM regexp_match(t, '^[A-Za-z]{3}, (\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2})') AS q)
      END
    $$;

    -- "MM/DD/YYYY hh:mm AM/PM" (with_time) or "MM/DD/YYYY", already known to have that shape (digits where
    -- digits go), as a UTC timestamp; NULL when a part is out of range (month 13, 02/30, hour 00 or 13).
    -- Written as one expression with a cheap argument so that the planner inlines it.
    CREATE FUNCTION qbsync.qb_ts(t text, with_time boolean) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN substr(t, 1, 2) COLLATE "C" BETWEEN '01' AND '12'
                   AND substr(t, 7, 4) COLLATE "C" BETWEEN '1900' AND '2200'
                   AND substr(t, 4, 2) COLLATE "C" >= '01'
                   AND substr(t, 4, 2)::int <= CASE substr(t, 1, 2)
                         WHEN '02' THEN 28 + ((substr(t, 7, 4)::int % 4 = 0 AND substr(t, 7, 4)::int % 100 <> 0) OR substr(t, 7, 4)::int % 400 = 0)::int
                         WHEN '04' THEN 30 WHEN '06' THEN 30 WHEN '09' THEN 30 WHEN '11' THEN 30 ELSE 31 END
                   AND (NOT with_time OR (substr(t, 12, 2) COLLATE "C" BETWEEN '01' AND '12' AND substr(t, 15, 2) COLLATE "C" <= '59'))
             THEN make_timestamp(substr(t, 7, 4)::int, substr(t, 1, 2)::int, substr(t, 4, 2)::int,
                                 CASE WHEN with_time THEN substr(t, 12, 2)::int % 12 + CASE substr(t, 18, 1) WHEN 'P' THEN 12 ELSE 0 END ELSE 0 END,
                                 CASE WHEN with_time THEN substr(t, 15, 2)::int ELSE 0 END, 0) AT TIME ZONE 'UTC' END
    $$;

    -- A QBench date string as timestamptz (UTC): "MM/DD/YYYY hh:mm AM/PM", date-only "MM/DD/YYYY" (midnight UTC),
    -- unix seconds ("1760368567"), and the other spellings of parse_ts_other. NULL when it is none of them.
    -- The usual shapes are told apart with translate() (digits → 9), not a regex: a simple CASE evaluates it
    -- once and it costs a fraction of the regex engine (this runs for every date of every record).
    -- Callers pass the JSON value's text (rec ->> 'field'), so a JSON number of unix seconds parses too.
    CREATE FUNCTION qbsync.parse_ts(t text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE translate(t, '012345678', '999999999')
        WHEN '99/99/9999 99:99 PM' THEN qbsync.qb_ts(t, true)
        WHEN '99/99/9999 99:99 AM' THEN qbsync.qb_ts(t, true)
        WHEN '99/99/9999' THEN qbsync.qb_ts(t, false)
        WHEN '9999999999' THEN to_timestamp(t::bigint)
        WHEN '999999999' THEN to_timestamp(t::bigint)
        ELSE CASE WHEN t <> '' THEN qbsync.parse_ts_other(btrim(t)) END
      END
    $$;

    -- Text of a JSON value (rec ->> 'field') → bigint / integer: digits only (a JSON number or a string of
    -- digits); anything else (12.5, "abc", an object) is NULL.
    CREATE FUNCTION qbsync.to_bigint(t text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN t <> '' AND length(t) <= 18 AND translate(t, '0123456789', '') = '' THEN t::bigint END
    $$;

    CREATE FUNCTION qbsync.to_int(t text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN t <> '' AND length(t) <= 9 AND translate(t, '0123456789', '') = '' THEN t::integer END
    $$;

    -- Text of a JSON value → boolean: true/false (JSON or strings, any case), "yes"/"no", 1/0.
    CREATE FUNCTION qbsync.to_bool(t text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE lower(t) WHEN 'true' THEN true WHEN 'false' THEN false WHEN 'yes' THEN true WHEN 'no' THEN false
                           WHEN '1' THEN true WHEN '0' THEN false END
    $$;

    -- JSON value → text: strings as they are, numbers and booleans as their text; objects and arrays are not text.
    CREATE FUNCTION qbsync.to_text(v jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN jsonb_typeof(v) IN ('string', 'number', 'boolean') THEN v #>> '{}' END
    $$;

    -- JSON array of ids (numbers, digit strings, or objects with an "id") → bigint[] in the source order;
    -- NULL when it is not an array or any element is not an id.
    CREATE FUNCTION qbsync.to_ids_general(v jsonb) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
      SELECT CASE WHEN jsonb_typeof(v) = 'array' THEN (
        SELECT CASE WHEN bool_and(x IS NOT NULL) IS NOT FALSE THEN coalesce(array_agg(x ORDER BY n), '{}') END
        FROM jsonb_array_elements(v) WITH ORDINALITY AS e(el, n),
             LATERAL (SELECT coalesce(qbsync.to_bigint(el #>> '{}'), qbsync.to_bigint(el ->> 'id')) AS x) y) END
    $$;

    -- The common case, an array of plain numbers ("[1, 2, 3]" as text), is read with one array cast.
    -- (Every helper here is built from IMMUTABLE parts only, so the planner inlines it into the transform.)
    CREATE FUNCTION qbsync.ids_from_text(s text, v jsonb) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN translate(s, '0123456789, ', '') = '[]' AND translate(s, '012345678', '999999999') NOT LIKE '%9999999999999999999%'
                  THEN string_to_array(substr(s, 2, length(s) - 2), ', ')::bigint[]
                  ELSE qbsync.to_ids_general(v) END
    $$;

    CREATE FUNCTION qbsync.to_ids(v jsonb) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN jsonb_typeof(v) = 'array' THEN qbsync.ids_from_text(v::text, v) END
    $$;

    -- A JSON document held in a string (QBench's report render_params) → jsonb; NULL when it is not valid JSON.
    -- plpgsql, not sql: an inlined CASE would let the planner fold the cast of a constant bad string and raise.
    CREATE FUNCTION qbsync.to_jsonb_doc(v jsonb) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
    BEGIN
      IF jsonb_typeof(v) IN ('object', 'array') THEN RETURN v; END IF;
      IF jsonb_typeof(v) = 'string' AND pg_input_is_valid(v #>> '{}', 'jsonb') THEN RETURN (v #>> '{}')::jsonb; END IF;
      RETURN NULL;
    END $$;

    -- One parse_errors entry: NULL when the value is absent, JSON null or "", or it parsed; otherwise the raw
    -- value and why it was not used.
    CREATE FUNCTION qbsync.bad(raw jsonb, parsed_is_null boolean, expected text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN parsed_is_null AND raw IS NOT NULL AND raw <> 'null'::jsonb AND raw <> '""'::jsonb
                  THEN jsonb_set(jsonb_object(ARRAY['error', 'expected ' || expected]), '{value}', raw) END
    $$;

    -- The parse_errors column from an object of bad() entries: NULL when every entry is NULL.
    CREATE FUNCTION qbsync.errors(entries jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT nullif(jsonb_strip_nulls(entries), '{}'::jsonb)
    $$;

    -- The records a landed body carries, by fetch kind: list → data[], updates → updated[] (objects; ids are
    -- ignored), detail → the body itself (or a v2-style {"data": {...}} wrapper's object).
    CREATE FUNCTION qbsync.records_of(kind text, body jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE kind
        WHEN 'list' THEN CASE WHEN jsonb_typeof(body -> 'data') = 'array' THEN body -> 'data' ELSE '[]'::jsonb END
        WHEN 'updates' THEN CASE WHEN jsonb_typeof(body -> 'updated') = 'array' THEN body -> 'updated' ELSE '[]'::jsonb END
        WHEN 'detail' THEN CASE WHEN jsonb_typeof(body) <> 'object' THEN '[]'::jsonb
                                WHEN NOT body ? 'id' AND jsonb_typeof(body -> 'data') = 'object' THEN jsonb_build_array(body -> 'data')
                                ELSE jsonb_build_array(body) END
        ELSE '[]'::jsonb
      END
    $$;

    -- Merges versions of one record that carry the same last_updated (QBench sometimes omits keys, e.g. a v1
    -- test list item without label_abbr whose detail has it): later fetches win per key, keys only an earlier
    -- fetch had are kept. Strict with no initial value, so a single version is passed through untouched.
    CREATE AGGREGATE qbsync.jsonb_merge(jsonb) (SFUNC = jsonb_concat, STYPE = jsonb);

    -- Days in the lab's timezone. The transform runner sets qbsync.timezone (transaction-local) from config;
    -- the timezone a schema's rollups were built with is recorded in qbsync.transform_schemas.
    CREATE FUNCTION qbsync.lab_day(ts timestamptz) RETURNS date
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT (ts AT TIME ZONE current_setting('qbsync.timezone'))::date
    $$;

    CREATE FUNCTION qbsync.day_start(d date) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT d::timestamp AT TIME ZONE current_setting('qbsync.timezone')
    $$;

    -- Metric helpers for the API over a SORTED float8[] of TAT hours (rollup tat_hours merged with
    -- array_agg(v ORDER BY v)). qbench-api.md §7: median = statistics.median (mean of the two middle values
    -- for an even count); p95 = value at index max(0, min(int(n*0.95) - 1, n - 1)) (0-based).
    CREATE FUNCTION qbsync.tat_median(sorted float8[]) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN n = 0 THEN NULL
                  WHEN n % 2 = 1 THEN sorted[n / 2 + 1]
                  ELSE (sorted[n / 2] + sorted[n / 2 + 1]) / 2 END
      FROM (SELECT coalesce(cardinality(sorted), 0) AS n) x
    $$;

    CREATE FUNCTION qbsync.tat_p95(sorted float8[]) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN n = 0 THEN NULL ELSE sorted[greatest(0, least(floor(n * 0.95)::int - 1, n - 1)) + 1] END
      FROM (SELECT coalesce(cardinality(sorted), 0) AS n) x
    $$;

    -- How many values of a SORTED float8[] are <= limit (within SLA); binary search, O(log n).
    CREATE FUNCTION qbsync.count_le(sorted float8[], lim float8) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
    DECLARE lo int := 1; hi int := coalesce(cardinality(sorted), 0) + 1; mid int;
    BEGIN
      WHILE lo < hi LOOP
        mid := (lo + hi) / 2;
        IF sorted[mid] <= lim THEN lo := mid + 1; ELSE hi := mid; END IF;
      END LOOP;
      RETURN lo - 1;
    END $$;

    ------------------------------------------------------------------------------------------ control tables

    -- Per schema being transformed into (qbench, or qbench_next while a replay builds it).
    CREATE TABLE qbsync.transform_schemas (
      schema_name  text PRIMARY KEY,
      timezone     text NOT NULL,
      created_at   timestamptz NOT NULL DEFAULT now(),
      replayed_at  timestamptz
    );
    COMMENT ON TABLE qbsync.transform_schemas IS 'Timezone the rollup days of each typed schema are counted in; a change needs qbsync replay.';

    -- Watermark per (schema, target): every raw.fetches row of the target's entity with id <= last_fetch_id
    -- has been applied. Moved in the same transaction as the rows it covers.
    CREATE TABLE qbsync.transform_watermarks (
      schema_name   text NOT NULL,
      target        text NOT NULL,
      last_fetch_id bigint NOT NULL DEFAULT 0,
      updated_at    timestamptz NOT NULL DEFAULT now(),
      last_stats    jsonb,
      PRIMARY KEY (schema_name, target)
    );

    ------------------------------------------------------------------------------------------ typed tables

    CREATE TABLE qbench.customers (
      id               bigint PRIMARY KEY,
      customer_name    text,
      account_number   text,
      license_number   text,
      email            text,
      date_created     timestamptz,
      last_updated     timestamptz,
      deleted          boolean NOT NULL DEFAULT false,
      deleted_at       timestamptz,
      source_fetch_id  bigint NOT NULL,
      parse_errors     jsonb,
      payload          jsonb NOT NULL
    );

    CREATE TABLE qbench.orders (
      id                   bigint PRIMARY KEY,
      customer_id          bigint,          -- from customer_account_id
      custom_formatted_id  text,
      state                text,
      date_created         timestamptz,
      date_received        timestamptz,
      date_completed       timestamptz,
      date_order_reported  timestamptz,     -- date-only in QBench: midnight UTC
      date_required        timestamptz,
      collected_date       timestamptz,
      sample_count         integer,
      test_count           integer,
      has_report           boolean,
      partially_complete   boolean,
      report_emailed       boolean,
      last_updated         timestamptz,
      deleted              boolean NOT NULL DEFAULT false,
      deleted_at           timestamptz,
      source_fetch_id      bigint NOT NULL,
      parse_errors         jsonb,
      payload              jsonb NOT NULL
    );

    CREATE TABLE qbench.samples (
      id                   bigint PRIMARY KEY,
      order_id             bigint,
      custom_formatted_id  text,
      sample_name          text,            -- sample_name, else description
      state                text,
      sample_type          text,            -- accessioning_type.value
      matrix_type          text,
      has_report           boolean,
      batch_ids            bigint[],        -- batches (or batch_ids)
      test_count           integer,
      date_created         timestamptz,
      start_date           timestamptz,
      completed_date       timestamptz,     -- completed_date, else complete_date
      sample_weight        text,
      leaf_id              text,
      last_updated         timestamptz,
      deleted              boolean NOT NULL DEFAULT false,
      deleted_at           timestamptz,
      source_fetch_id      bigint NOT NULL,
      parse_errors         jsonb,
      payload              jsonb NOT NULL
    );

    CREATE TABLE qbench.batches (
      id               bigint PRIMARY KEY,
      assay_id         bigint,
      display_name     text,
      batch_status     text,
      batch_complete   boolean,
      batch_processed  boolean,
      sample_ids       bigint[],
      test_ids         bigint[],
      date_created     timestamptz,
      date_prepared    timestamptz,
      last_updated     timestamptz,
      deleted          boolean NOT NULL DEFAULT false,
      deleted_at       timestamptz,
      source_fetch_id  bigint NOT NULL,
      parse_errors     jsonb,
      payload          jsonb NOT NULL
    );

    CREATE TABLE qbench.tests (
      id                       bigint PRIMARY KEY,
      sample_id                bigint,
      assay_id                 bigint,
      label_abbr               text,        -- top-level, else assay.label_abbr
      title                    text,        -- top-level, else assay.title
      state                    text,
      has_report               boolean,
      report_completed_date    timestamptz,
      batch_ids                bigint[],    -- batches (or batch_ids)
      date_created             timestamptz,
      start_date               timestamptz,
      complete_date            timestamptz,
      estimated_start_date     timestamptz,
      estimated_complete_date  timestamptz,
      tech_id                  bigint,
      results                  text,
      -- TAT (qbench-api.md §7): report_completed_date - date_created, in hours; NULL until reported.
      tat_hours                float8 GENERATED ALWAYS AS ((extract(epoch FROM report_completed_date - date_created) / 3600)::float8) STORED,
      last_updated             timestamptz,
      deleted                  boolean NOT NULL DEFAULT false,
      deleted_at               timestamptz,
      source_fetch_id          bigint NOT NULL,
      parse_errors             jsonb,
      payload                  jsonb NOT NULL
    );

    CREATE TABLE qbench.assays (
      id                     bigint PRIMARY KEY,
      label_abbr             text,
      title                  text,
      duration               text,
      default_technician_id  bigint,
      date_created           timestamptz,
      last_updated           timestamptz,
      deleted                boolean NOT NULL DEFAULT false,
      deleted_at             timestamptz,
      source_fetch_id        bigint NOT NULL,
      parse_errors           jsonb,
      payload                jsonb NOT NULL
    );

    CREATE TABLE qbench.reports (
      id                bigint PRIMARY KEY,
      order_id          bigint,
      sample_id         bigint,
      test_id           bigint,
      state             text,
      render_status     text,
      is_public         boolean,
      emailed           boolean,
      test_ids          bigint[],          -- from render_params (a JSON string) .test_ids
      date_generated    timestamptz,
      date_published    timestamptz,
      date_public       timestamptz,
      date_emailed      timestamptz,
      last_updated      timestamptz,
      deleted           boolean NOT NULL DEFAULT false,
      deleted_at        timestamptz,
      source_fetch_id   bigint NOT NULL,
      parse_errors      jsonb,
      payload           jsonb NOT NULL
    );

    -- The planner gains nothing from sampling whole payloads (and ANALYZE of jsonb is slow): no statistics.
    -- (Replay copies these per-column targets to the tables it builds.)
    ALTER TABLE qbench.customers ALTER COLUMN payload SET STATISTICS 0, ALTER COLUMN parse_errors SET STATISTICS 0;
    ALTER TABLE qbench.orders ALTER COLUMN payload SET STATISTICS 0, ALTER COLUMN parse_errors SET STATISTICS 0;
    ALTER TABLE qbench.samples ALTER COLUMN payload SET STATISTICS 0, ALTER COLUMN parse_errors SET STATISTICS 0;
    ALTER TABLE qbench.batches ALTER COLUMN payload SET STATISTICS 0, ALTER COLUMN parse_errors SET STATISTICS 0;
    ALTER TABLE qbench.tests ALTER COLUMN payload SET STATISTICS 0, ALTER COLUMN parse_errors SET STATISTICS 0;
    ALTER TABLE qbench.assays ALTER COLUMN payload SET STATISTICS 0, ALTER COLUMN parse_errors SET STATISTICS 0;
    ALTER TABLE qbench.reports ALTER COLUMN payload SET STATISTICS 0, ALTER COLUMN parse_errors SET STATISTICS 0;

    -- Indexes for the metric and entity queries.
    CREATE INDEX customers_date_created_idx ON qbench.customers (date_created);
    CREATE INDEX orders_customer_id_idx ON qbench.orders (customer_id);
    CREATE INDEX orders_date_created_idx ON qbench.orders (date_created);
    CREATE INDEX orders_state_idx ON qbench.orders (state);
    CREATE INDEX samples_order_id_idx ON qbench.samples (order_id);
    CREATE INDEX samples_date_created_idx ON qbench.samples (date_created);
    CREATE INDEX samples_completed_date_idx ON qbench.samples (completed_date);
    CREATE INDEX samples_state_idx ON qbench.samples (state);
    CREATE INDEX tests_sample_id_idx ON qbench.tests (sample_id);
    CREATE INDEX tests_assay_id_idx ON qbench.tests (assay_id);
    CREATE INDEX tests_date_created_idx ON qbench.tests (date_created);
    CREATE INDEX tests_report_completed_date_idx ON qbench.tests (report_completed_date);
    CREATE INDEX tests_state_idx ON qbench.tests (state);
    CREATE INDEX tests_label_abbr_idx ON qbench.tests (label_abbr);
    CREATE INDEX tests_batch_ids_idx ON qbench.tests USING gin (batch_ids);
    CREATE INDEX batches_assay_id_idx ON qbench.batches (assay_id);
    CREATE INDEX batches_date_created_idx ON qbench.batches (date_created);
    CREATE INDEX reports_sample_id_idx ON qbench.reports (sample_id);
    CREATE INDEX reports_order_id_idx ON qbench.reports (order_id);
    CREATE INDEX reports_date_generated_idx ON qbench.reports (date_generated);

    ------------------------------------------------------------------------------------------ rollups
    -- Daily rollups, maintained by the same transforms: after each batch, every day bucket that a changed row
    -- sat in before or sits in after is recomputed whole from the typed rows (never +/- deltas), so they are
    -- exact, idempotent and identical after replay. Days are in the lab timezone (qbsync.transform_schemas).
    -- Deleted rows are not counted. customer_id comes through sample -> order -> customer (NULL when the
    -- chain is broken); sample_type is the sample's accessioning_type.value. NULL keys are real groups
    -- ("unknown"). tat_hours is the SORTED list of TAT values (hours, float8), so medians, p95 (index rule of
    -- qbench-api.md §7) and within/beyond SLA for any threshold are exact: merge buckets with
    -- array_agg(v ORDER BY v) over unnest(tat_hours), or use qbsync.tat_median/tat_p95/count_le.

    CREATE TABLE qbench.rollup_samples_daily (
      day                date NOT NULL,     -- lab day of samples.date_created
      customer_id        bigint,
      sample_type        text,
      samples_created    integer NOT NULL,
      samples_completed  integer NOT NULL,  -- of those, with a completed_date
      CONSTRAINT rollup_samples_daily_key UNIQUE NULLS NOT DISTINCT (day, customer_id, sample_type)
    );
    COMMENT ON TABLE qbench.rollup_samples_daily IS 'Samples by lab day of date_created x customer x sample_type (deleted excluded).';

    CREATE TABLE qbench.rollup_tests_created (
      day             date NOT NULL,        -- lab day of tests.date_created
      label_abbr      text,
      customer_id     bigint,
      sample_type     text,
      tests_created   integer NOT NULL,
      tests_reported  integer NOT NULL,     -- of those, with a report_completed_date
      tat_count       integer NOT NULL,     -- = cardinality(tat_hours)
      tat_sum         float8 NOT NULL,      -- sum of tat_hours (added in sorted order)
      tat_hours       float8[] NOT NULL,    -- TAT of those tests, sorted ascending
      CONSTRAINT rollup_tests_created_key UNIQUE NULLS NOT DISTINCT (day, label_abbr, customer_id, sample_type)
    );
    COMMENT ON TABLE qbench.rollup_tests_created IS 'Tests by lab day of date_created x label_abbr x customer x sample_type, with the sorted TAT values of those reported (deleted excluded).';

    CREATE TABLE qbench.rollup_tests_reported (
      day             date NOT NULL,        -- lab day of tests.report_completed_date
      label_abbr      text,
      customer_id     bigint,
      sample_type     text,
      tests_reported  integer NOT NULL,
      tat_count       integer NOT NULL,     -- tests with a date_created too (= cardinality(tat_hours))
      tat_sum         float8 NOT NULL,
      tat_hours       float8[] NOT NULL,    -- sorted ascending
      CONSTRAINT rollup_tests_reported_key UNIQUE NULLS NOT DISTINCT (day, label_abbr, customer_id, sample_type)
    );
    ALTER TABLE qbench.rollup_tests_created ALTER COLUMN tat_hours SET STATISTICS 0;
    ALTER TABLE qbench.rollup_tests_reported ALTER COLUMN tat_hours SET STATISTICS 0;
    COMMENT ON TABLE qbench.rollup_tests_reported IS 'Tests by lab day of report_completed_date x label_abbr x customer x sample_type, with sorted TAT values (deleted excluded).';
  `));
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP SCHEMA IF EXISTS qbench CASCADE;
    DROP SCHEMA IF EXISTS qbench_next CASCADE;
    DROP TABLE IF EXISTS qbsync.transform_watermarks;
    DROP TABLE IF EXISTS qbsync.transform_schemas;
    DROP AGGREGATE IF EXISTS qbsync.jsonb_merge(jsonb);
    DROP FUNCTION IF EXISTS qbsync.count_le(float8[], float8), qbsync.tat_p95(float8[]), qbsync.tat_median(float8[]),
      qbsync.day_start(date), qbsync.lab_day(timestamptz), qbsync.records_of(text, jsonb), qbsync.errors(jsonb),
      qbsync.bad(jsonb, boolean, text), qbsync.to_jsonb_doc(jsonb), qbsync.to_ids(jsonb), qbsync.ids_from_text(text, jsonb),
      qbsync.to_ids_general(jsonb), qbsync.to_text(jsonb), qbsync.to_bool(text), qbsync.to_int(text), qbsync.to_bigint(text), qbsync.parse_ts(text), qbsync.qb_ts(text, boolean),
      qbsync.parse_ts_other(text), qbsync.hour24(int, text), qbsync.utc_ts(int, int, int, int, int, numeric);
  `);
}
