import type { Knex } from 'knex';
import { sqlFile } from '../transform/runner.js';

/**
 * Rollups the API can read a year from at 1M tests without touching thousands of rows per request.
 *
 * The per-customer rollups (20261125100000) have about one row per test at 1M tests (1,500 customers x 16 labels
 * x sample types per day), so a lab-wide year read most of them. This adds:
 * - `state` to the three per-customer rollups (and `matrix_type` to samples), so state filters and the overviews
 *   are answered from rollups too;
 * - lab-wide layers without the customer (`*_lab`), derived from the per-customer rows of the same days;
 * - TAT value tables (`rollup_tat_created`, `rollup_tat_reported`) by day and by month, whose sorted arrays are
 *   cut into parts of at most 960 values kept inline in their rows (a TOASTed array is copied whole on every read,
 *   which made a search over them 10x slower), so within/beyond SLA and exact percentiles are binary searches
 *   (width_bucket) over a few hundred rows;
 * - `rollup_customers_daily`: tests created and reported per customer and day, for the customer rankings.
 * qbsync.count_le becomes width_bucket (the same count, in C).
 * Every rollup of the live schema is recomputed here from the typed tables (a replay in progress is dropped: it
 * would swap in tables of the old shape).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP SCHEMA IF EXISTS qbench_next CASCADE;
    DELETE FROM qbsync.transform_watermarks WHERE schema_name = 'qbench_next';
    DELETE FROM qbsync.transform_schemas WHERE schema_name = 'qbench_next';

    CREATE OR REPLACE FUNCTION qbsync.count_le(sorted float8[], lim float8) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT width_bucket(lim, sorted) $$;
    COMMENT ON FUNCTION qbsync.count_le(float8[], float8) IS 'How many values of a SORTED float8[] are <= lim (width_bucket: a binary search in C).';

    TRUNCATE qbench.rollup_samples_daily, qbench.rollup_tests_created, qbench.rollup_tests_reported;

    ALTER TABLE qbench.rollup_samples_daily DROP CONSTRAINT rollup_samples_daily_key,
      ADD COLUMN state text, ADD COLUMN matrix_type text,
      ADD CONSTRAINT rollup_samples_daily_key UNIQUE NULLS NOT DISTINCT (day, customer_id, sample_type, state, matrix_type);
    ALTER TABLE qbench.rollup_tests_created DROP CONSTRAINT rollup_tests_created_key,
      ADD COLUMN state text,
      ADD CONSTRAINT rollup_tests_created_key UNIQUE NULLS NOT DISTINCT (day, label_abbr, customer_id, sample_type, state);
    ALTER TABLE qbench.rollup_tests_reported DROP CONSTRAINT rollup_tests_reported_key,
      ADD COLUMN state text,
      ADD CONSTRAINT rollup_tests_reported_key UNIQUE NULLS NOT DISTINCT (day, label_abbr, customer_id, sample_type, state);
    COMMENT ON TABLE qbench.rollup_samples_daily IS 'Samples by lab day of date_created x customer x sample_type x state x matrix_type (deleted excluded).';
    COMMENT ON TABLE qbench.rollup_tests_created IS 'Tests by lab day of date_created x label_abbr x customer x sample_type x state, with the sorted TAT values of those reported (deleted excluded).';
    COMMENT ON TABLE qbench.rollup_tests_reported IS 'Tests by lab day of report_completed_date x label_abbr x customer x sample_type x state, with sorted TAT values (deleted excluded).';
    -- A customer filter reads one customer's rows.
    CREATE INDEX rollup_samples_daily_customer_idx ON qbench.rollup_samples_daily (customer_id, day);
    CREATE INDEX rollup_tests_created_customer_idx ON qbench.rollup_tests_created (customer_id, day);
    CREATE INDEX rollup_tests_reported_customer_idx ON qbench.rollup_tests_reported (customer_id, day);

    -- The lab-wide layers keep only the dimensions the metrics group or filter by without a customer.
    CREATE TABLE qbench.rollup_samples_lab (
      day                date NOT NULL,
      state              text,
      matrix_type        text,
      samples_created    integer NOT NULL,
      samples_completed  integer NOT NULL,
      CONSTRAINT rollup_samples_lab_key UNIQUE NULLS NOT DISTINCT (day, state, matrix_type)
    );
    COMMENT ON TABLE qbench.rollup_samples_lab IS 'rollup_samples_daily without the customer and sample_type: samples by lab day of date_created x state x matrix_type.';

    CREATE TABLE qbench.rollup_tests_created_lab (
      day             date NOT NULL,
      label_abbr      text,
      state           text,
      tests_created   integer NOT NULL,
      tests_reported  integer NOT NULL,
      tat_count       integer NOT NULL,
      tat_sum         float8 NOT NULL,
      CONSTRAINT rollup_tests_created_lab_key UNIQUE NULLS NOT DISTINCT (day, label_abbr, state)
    );
    COMMENT ON TABLE qbench.rollup_tests_created_lab IS 'rollup_tests_created without the customer, the sample type and the TAT values: tests by lab day of date_created x label_abbr x state.';

    CREATE TABLE qbench.rollup_tests_reported_lab (
      day             date NOT NULL,
      sample_type     text,
      state           text,
      tests_reported  integer NOT NULL,
      tat_count       integer NOT NULL,
      tat_sum         float8 NOT NULL,
      CONSTRAINT rollup_tests_reported_lab_key UNIQUE NULLS NOT DISTINCT (day, sample_type, state)
    );
    COMMENT ON TABLE qbench.rollup_tests_reported_lab IS 'rollup_tests_reported without the customer, the label and the TAT values: tests by lab day of report_completed_date x sample_type x state.';

    -- span 'D': one lab day (day = that day); span 'M': one calendar month (day = its first day), made from the
    -- month's 'D' rows. A year is then ~12 month groups plus the days at its ends instead of 365 day groups.
    -- Parts hold at most 960 values (7.7 kB); with toast_tuple_target at its maximum and no compression the row
    -- stays inline in its page, so reading an array costs no detoasting copy.
    CREATE TABLE qbench.rollup_tat_created (
      span         "char" NOT NULL CHECK (span IN ('D', 'M')),
      day          date NOT NULL,      -- lab day of tests.date_created, or the first day of its month
      label_abbr   text,
      part         integer NOT NULL,   -- 0, 1, ...: the group's sorted values cut into runs of at most 960
      tat_hours    float8[] NOT NULL,  -- sorted ascending
      tat_sum      float8 NOT NULL,    -- sum of tat_hours (added in sorted order)
      CONSTRAINT rollup_tat_created_key UNIQUE NULLS NOT DISTINCT (span, day, label_abbr, part)
    ) WITH (toast_tuple_target = 8160);
    COMMENT ON TABLE qbench.rollup_tat_created IS 'TAT values of reported tests by lab day (span D) or month (span M) of date_created x label_abbr, sorted, in parts of at most 960 values.';

    CREATE TABLE qbench.rollup_tat_reported (
      span         "char" NOT NULL CHECK (span IN ('D', 'M')),
      day          date NOT NULL,      -- lab day of tests.report_completed_date, or the first day of its month
      state        text,
      part         integer NOT NULL,
      tat_hours    float8[] NOT NULL,
      tat_sum      float8 NOT NULL,
      CONSTRAINT rollup_tat_reported_key UNIQUE NULLS NOT DISTINCT (span, day, state, part)
    ) WITH (toast_tuple_target = 8160);
    COMMENT ON TABLE qbench.rollup_tat_reported IS 'TAT values of tests by lab day (span D) or month (span M) of report_completed_date x state, sorted, in parts of at most 960 values.';
    ALTER TABLE qbench.rollup_tat_created ALTER COLUMN tat_hours SET STATISTICS 0, ALTER COLUMN tat_hours SET STORAGE EXTERNAL;
    ALTER TABLE qbench.rollup_tat_reported ALTER COLUMN tat_hours SET STATISTICS 0, ALTER COLUMN tat_hours SET STORAGE EXTERNAL;

    CREATE TABLE qbench.rollup_customers_daily (
      day             date NOT NULL,
      customer_id     bigint NOT NULL,
      tests_created   integer NOT NULL,  -- tests created on that lab day
      tests_reported  integer NOT NULL,  -- tests reported on that lab day
      CONSTRAINT rollup_customers_daily_key UNIQUE (day, customer_id)
    );
    COMMENT ON TABLE qbench.rollup_customers_daily IS 'Tests created and tests reported per lab day and customer (for the customer rankings).';
  `);
  // Recompute every rollup of the live schema in its timezone (none recorded: nothing transformed yet).
  const { rows } = await knex.raw(`SELECT timezone FROM qbsync.transform_schemas WHERE schema_name = 'qbench'`);
  // (The current _rollups.sql, as a replay runs it; a later migration that changes the rollups recomputes them too.)
  if (rows[0]) {
    await knex.raw(`SELECT set_config('search_path', 'qbench', true), set_config('qbsync.mode', 'replay', true),
      set_config('qbsync.timezone', ?, true), set_config('work_mem', '256MB', true)`, [rows[0].timezone]);
    await knex.raw(`CREATE TEMP TABLE touched_days (rollup text NOT NULL, day date NOT NULL, PRIMARY KEY (rollup, day)) ON COMMIT DROP`);
    await knex.raw(sqlFile('_rollups'));
    await knex.raw(`SELECT set_config('search_path', 'public', true)`);
  }
}

export async function down(knex: Knex): Promise<void> {
  // The per-customer rollups go back to their old keys, recomputed from the typed tables as 20261125100000's
  // transforms computed them (every day at once, in the live schema's timezone).
  const { rows } = await knex.raw(`SELECT timezone FROM qbsync.transform_schemas WHERE schema_name = 'qbench'`);
  await knex.raw(`SELECT set_config('qbsync.timezone', ?, true)`, [rows[0]?.timezone ?? 'UTC']);
  await knex.raw(`
    DROP SCHEMA IF EXISTS qbench_next CASCADE;
    DELETE FROM qbsync.transform_watermarks WHERE schema_name = 'qbench_next';
    DELETE FROM qbsync.transform_schemas WHERE schema_name = 'qbench_next';
    DROP TABLE qbench.rollup_samples_lab, qbench.rollup_tests_created_lab, qbench.rollup_tests_reported_lab,
      qbench.rollup_tat_created, qbench.rollup_tat_reported, qbench.rollup_customers_daily;
    DROP INDEX qbench.rollup_samples_daily_customer_idx, qbench.rollup_tests_created_customer_idx, qbench.rollup_tests_reported_customer_idx;
    TRUNCATE qbench.rollup_samples_daily, qbench.rollup_tests_created, qbench.rollup_tests_reported;

    ALTER TABLE qbench.rollup_samples_daily DROP CONSTRAINT rollup_samples_daily_key, DROP COLUMN state, DROP COLUMN matrix_type,
      ADD CONSTRAINT rollup_samples_daily_key UNIQUE NULLS NOT DISTINCT (day, customer_id, sample_type);
    ALTER TABLE qbench.rollup_tests_created DROP CONSTRAINT rollup_tests_created_key, DROP COLUMN state,
      ADD CONSTRAINT rollup_tests_created_key UNIQUE NULLS NOT DISTINCT (day, label_abbr, customer_id, sample_type);
    ALTER TABLE qbench.rollup_tests_reported DROP CONSTRAINT rollup_tests_reported_key, DROP COLUMN state,
      ADD CONSTRAINT rollup_tests_reported_key UNIQUE NULLS NOT DISTINCT (day, label_abbr, customer_id, sample_type);
    COMMENT ON TABLE qbench.rollup_samples_daily IS 'Samples by lab day of date_created x customer x sample_type (deleted excluded).';
    COMMENT ON TABLE qbench.rollup_tests_created IS 'Tests by lab day of date_created x label_abbr x customer x sample_type, with the sorted TAT values of those reported (deleted excluded).';
    COMMENT ON TABLE qbench.rollup_tests_reported IS 'Tests by lab day of report_completed_date x label_abbr x customer x sample_type, with sorted TAT values (deleted excluded).';

    INSERT INTO qbench.rollup_samples_daily (day, customer_id, sample_type, samples_created, samples_completed)
    SELECT qbsync.lab_day(s.date_created), o.customer_id, s.sample_type, count(*), count(s.completed_date)
    FROM qbench.samples s LEFT JOIN qbench.orders o ON o.id = s.order_id
    WHERE NOT s.deleted AND s.date_created IS NOT NULL GROUP BY 1, 2, 3;

    INSERT INTO qbench.rollup_tests_created (day, label_abbr, customer_id, sample_type, tests_created, tests_reported, tat_count, tat_sum, tat_hours)
    SELECT qbsync.lab_day(t.date_created), t.label_abbr, o.customer_id, s.sample_type,
           count(*), count(t.report_completed_date), count(t.tat_hours),
           coalesce(sum(t.tat_hours ORDER BY t.tat_hours), 0),
           coalesce(array_agg(t.tat_hours ORDER BY t.tat_hours) FILTER (WHERE t.tat_hours IS NOT NULL), '{}')
    FROM qbench.tests t LEFT JOIN qbench.samples s ON s.id = t.sample_id LEFT JOIN qbench.orders o ON o.id = s.order_id
    WHERE NOT t.deleted AND t.date_created IS NOT NULL GROUP BY 1, 2, 3, 4;

    INSERT INTO qbench.rollup_tests_reported (day, label_abbr, customer_id, sample_type, tests_reported, tat_count, tat_sum, tat_hours)
    SELECT qbsync.lab_day(t.report_completed_date), t.label_abbr, o.customer_id, s.sample_type,
           count(*), count(t.tat_hours),
           coalesce(sum(t.tat_hours ORDER BY t.tat_hours), 0),
           coalesce(array_agg(t.tat_hours ORDER BY t.tat_hours) FILTER (WHERE t.tat_hours IS NOT NULL), '{}')
    FROM qbench.tests t LEFT JOIN qbench.samples s ON s.id = t.sample_id LEFT JOIN qbench.orders o ON o.id = s.order_id
    WHERE NOT t.deleted AND t.report_completed_date IS NOT NULL GROUP BY 1, 2, 3, 4;

    CREATE OR REPLACE FUNCTION qbsync.count_le(sorted float8[], lim float8) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
    DECLARE lo int := 1; hi int := coalesce(cardinality(sorted), 0) + 1; mid int;
    BEGIN
      WHILE lo < hi LOOP
        mid := (lo + hi) / 2;
        IF sorted[mid] <= lim THEN lo := mid + 1; ELSE hi := mid; END IF;
      END LOOP;
      RETURN lo - 1;
    END $$;
  `);
}
