-- _rollups.sql: the daily rollups, recomputed whole per day bucket from the typed rows (never +/- deltas).
-- Two layers: the per-customer rollups (rollup_samples_daily, rollup_tests_created, rollup_tests_reported) from
-- the typed rows, then the lab-wide layers (*_lab, rollup_tat_*, rollup_customers_daily) from the per-customer
-- rows of the same days.
--
-- qbsync.mode = 'incremental': only the days in touched_days (filled by the target files: the days changed
--   rows sat in before the batch and sit in after it) are deleted and recomputed.
-- qbsync.mode = 'replay': touched_days is empty and every day is computed (the tables start empty).
-- Each touched day is one range [day_start(day), day_start(day + 1)) read through the date index (the LATERAL
-- subquery with OFFSET 0 keeps the planner from turning it into a scan of the whole table); a replay's single
-- range is (-infinity, infinity). Days are in the lab timezone (qbsync.timezone). Deleted rows are not counted. customer_id comes through
-- sample -> order; NULL keys are groups of their own. Table and column meanings: the migration's comments
-- and transform/README.md.

DELETE FROM rollup_samples_daily WHERE day IN (SELECT day FROM touched_days WHERE rollup = 'samples');

WITH scope AS (
  SELECT qbsync.day_start(day) AS lo, qbsync.day_start(day + 1) AS hi FROM touched_days WHERE rollup = 'samples'
  UNION ALL
  SELECT '-infinity', 'infinity' WHERE current_setting('qbsync.mode') = 'replay'
)
INSERT INTO rollup_samples_daily (day, customer_id, sample_type, state, matrix_type, samples_created, samples_completed)
SELECT qbsync.lab_day(s.date_created), o.customer_id, s.sample_type, s.state, s.matrix_type, count(*), count(s.completed_date)
FROM scope
CROSS JOIN LATERAL (SELECT * FROM samples s WHERE s.date_created >= scope.lo AND s.date_created < scope.hi AND NOT s.deleted OFFSET 0) s
LEFT JOIN orders o ON o.id = s.order_id
GROUP BY 1, 2, 3, 4, 5;

DELETE FROM rollup_tests_created WHERE day IN (SELECT day FROM touched_days WHERE rollup = 'tests_created');

WITH scope AS (
  SELECT qbsync.day_start(day) AS lo, qbsync.day_start(day + 1) AS hi FROM touched_days WHERE rollup = 'tests_created'
  UNION ALL
  SELECT '-infinity', 'infinity' WHERE current_setting('qbsync.mode') = 'replay'
)
INSERT INTO rollup_tests_created (day, label_abbr, customer_id, sample_type, state, tests_created, tests_reported,
                                  tat_count, tat_sum, tat_hours)
SELECT qbsync.lab_day(t.date_created), t.label_abbr, o.customer_id, s.sample_type, t.state,
       count(*), count(t.report_completed_date), count(t.tat_hours),
       coalesce(sum(t.tat_hours ORDER BY t.tat_hours), 0),
       coalesce(array_agg(t.tat_hours ORDER BY t.tat_hours) FILTER (WHERE t.tat_hours IS NOT NULL), '{}')
FROM scope
CROSS JOIN LATERAL (SELECT * FROM tests t WHERE t.date_created >= scope.lo AND t.date_created < scope.hi AND NOT t.deleted OFFSET 0) t
LEFT JOIN samples s ON s.id = t.sample_id
LEFT JOIN orders o ON o.id = s.order_id
GROUP BY 1, 2, 3, 4, 5;

DELETE FROM rollup_tests_reported WHERE day IN (SELECT day FROM touched_days WHERE rollup = 'tests_reported');

WITH scope AS (
  SELECT qbsync.day_start(day) AS lo, qbsync.day_start(day + 1) AS hi FROM touched_days WHERE rollup = 'tests_reported'
  UNION ALL
  SELECT '-infinity', 'infinity' WHERE current_setting('qbsync.mode') = 'replay'
)
INSERT INTO rollup_tests_reported (day, label_abbr, customer_id, sample_type, state, tests_reported, tat_count, tat_sum, tat_hours)
SELECT qbsync.lab_day(t.report_completed_date), t.label_abbr, o.customer_id, s.sample_type, t.state,
       count(*), count(t.tat_hours),
       coalesce(sum(t.tat_hours ORDER BY t.tat_hours), 0),
       coalesce(array_agg(t.tat_hours ORDER BY t.tat_hours) FILTER (WHERE t.tat_hours IS NOT NULL), '{}')
FROM scope
CROSS JOIN LATERAL (SELECT * FROM tests t WHERE t.report_completed_date >= scope.lo AND t.report_completed_date < scope.hi AND NOT t.deleted OFFSET 0) t
LEFT JOIN samples s ON s.id = t.sample_id
LEFT JOIN orders o ON o.id = s.order_id
GROUP BY 1, 2, 3, 4, 5;

-- ------------------------------------------------------------------------------------------- lab-wide layers
-- From the per-customer rows of the touched days (a replay: of every day, listed here first). Float sums add the
-- per-customer sums in customer order, and TAT arrays are merged sorted, so an incremental run and a replay give
-- identical rows.

INSERT INTO touched_days (rollup, day)
SELECT 'samples', day FROM rollup_samples_daily WHERE current_setting('qbsync.mode') = 'replay'
UNION SELECT 'tests_created', day FROM rollup_tests_created WHERE current_setting('qbsync.mode') = 'replay'
UNION SELECT 'tests_reported', day FROM rollup_tests_reported WHERE current_setting('qbsync.mode') = 'replay'
ON CONFLICT DO NOTHING;

DELETE FROM rollup_samples_lab WHERE day IN (SELECT day FROM touched_days WHERE rollup = 'samples');
INSERT INTO rollup_samples_lab (day, state, matrix_type, samples_created, samples_completed)
SELECT r.day, r.state, r.matrix_type, sum(r.samples_created), sum(r.samples_completed)
FROM rollup_samples_daily r
WHERE r.day IN (SELECT day FROM touched_days WHERE rollup = 'samples')
GROUP BY 1, 2, 3;

DELETE FROM rollup_tests_created_lab WHERE day IN (SELECT day FROM touched_days WHERE rollup = 'tests_created');
INSERT INTO rollup_tests_created_lab (day, label_abbr, state, tests_created, tests_reported, tat_count, tat_sum)
SELECT r.day, r.label_abbr, r.state, sum(r.tests_created), sum(r.tests_reported), sum(r.tat_count),
       sum(r.tat_sum ORDER BY r.customer_id NULLS FIRST, r.sample_type NULLS FIRST)
FROM rollup_tests_created r
WHERE r.day IN (SELECT day FROM touched_days WHERE rollup = 'tests_created')
GROUP BY 1, 2, 3;

DELETE FROM rollup_tests_reported_lab WHERE day IN (SELECT day FROM touched_days WHERE rollup = 'tests_reported');
INSERT INTO rollup_tests_reported_lab (day, sample_type, state, tests_reported, tat_count, tat_sum)
SELECT r.day, r.sample_type, r.state, sum(r.tests_reported), sum(r.tat_count),
       sum(r.tat_sum ORDER BY r.customer_id NULLS FIRST, r.label_abbr NULLS FIRST)
FROM rollup_tests_reported r
WHERE r.day IN (SELECT day FROM touched_days WHERE rollup = 'tests_reported')
GROUP BY 1, 2, 3;

-- TAT values, sorted, in parts of at most 960 (kept inline in the row: see the migration). Span 'D' per lab day
-- from the per-customer rows; span 'M' per month (day = its first day) from the 'D' rows of the touched months.
DELETE FROM rollup_tat_created WHERE span = 'D' AND day IN (SELECT day FROM touched_days WHERE rollup = 'tests_created');
INSERT INTO rollup_tat_created (span, day, label_abbr, part, tat_hours, tat_sum)
SELECT 'D', day, label_abbr, (rn - 1) / 960, array_agg(v ORDER BY v), sum(v ORDER BY v)
FROM (
  SELECT r.day, r.label_abbr, v, row_number() OVER (PARTITION BY r.day, r.label_abbr ORDER BY v) AS rn
  FROM rollup_tests_created r CROSS JOIN LATERAL unnest(r.tat_hours) AS v
  WHERE r.day IN (SELECT day FROM touched_days WHERE rollup = 'tests_created')
) x
GROUP BY 2, 3, 4;

DELETE FROM rollup_tat_created WHERE span = 'M' AND day IN (SELECT date_trunc('month', day)::date FROM touched_days WHERE rollup = 'tests_created');
WITH months AS (SELECT DISTINCT date_trunc('month', day)::date AS m FROM touched_days WHERE rollup = 'tests_created')
INSERT INTO rollup_tat_created (span, day, label_abbr, part, tat_hours, tat_sum)
SELECT 'M', m, label_abbr, (rn - 1) / 960, array_agg(v ORDER BY v), sum(v ORDER BY v)
FROM (
  SELECT months.m, r.label_abbr, v, row_number() OVER (PARTITION BY months.m, r.label_abbr ORDER BY v) AS rn
  FROM months
  JOIN rollup_tat_created r ON r.span = 'D' AND r.day >= months.m AND r.day < (months.m + interval '1 month')::date
  CROSS JOIN LATERAL unnest(r.tat_hours) AS v
) x
GROUP BY 2, 3, 4;

DELETE FROM rollup_tat_reported WHERE span = 'D' AND day IN (SELECT day FROM touched_days WHERE rollup = 'tests_reported');
INSERT INTO rollup_tat_reported (span, day, state, part, tat_hours, tat_sum)
SELECT 'D', day, state, (rn - 1) / 960, array_agg(v ORDER BY v), sum(v ORDER BY v)
FROM (
  SELECT r.day, r.state, v, row_number() OVER (PARTITION BY r.day, r.state ORDER BY v) AS rn
  FROM rollup_tests_reported r CROSS JOIN LATERAL unnest(r.tat_hours) AS v
  WHERE r.day IN (SELECT day FROM touched_days WHERE rollup = 'tests_reported')
) x
GROUP BY 2, 3, 4;

DELETE FROM rollup_tat_reported WHERE span = 'M' AND day IN (SELECT date_trunc('month', day)::date FROM touched_days WHERE rollup = 'tests_reported');
WITH months AS (SELECT DISTINCT date_trunc('month', day)::date AS m FROM touched_days WHERE rollup = 'tests_reported')
INSERT INTO rollup_tat_reported (span, day, state, part, tat_hours, tat_sum)
SELECT 'M', m, state, (rn - 1) / 960, array_agg(v ORDER BY v), sum(v ORDER BY v)
FROM (
  SELECT months.m, r.state, v, row_number() OVER (PARTITION BY months.m, r.state ORDER BY v) AS rn
  FROM months
  JOIN rollup_tat_reported r ON r.span = 'D' AND r.day >= months.m AND r.day < (months.m + interval '1 month')::date
  CROSS JOIN LATERAL unnest(r.tat_hours) AS v
) x
GROUP BY 2, 3, 4;

-- Per customer: a day's row holds the tests created and the tests reported that day, so both kinds of touched day
-- recompute it whole. Tests whose customer is unknown are not ranked.
DELETE FROM rollup_customers_daily WHERE day IN (SELECT day FROM touched_days WHERE rollup IN ('tests_created', 'tests_reported'));
INSERT INTO rollup_customers_daily (day, customer_id, tests_created, tests_reported)
SELECT day, customer_id, sum(created), sum(reported)
FROM (
  SELECT r.day, r.customer_id, r.tests_created AS created, 0 AS reported FROM rollup_tests_created r
  WHERE r.customer_id IS NOT NULL AND r.day IN (SELECT day FROM touched_days WHERE rollup IN ('tests_created', 'tests_reported'))
  UNION ALL
  SELECT r.day, r.customer_id, 0, r.tests_reported FROM rollup_tests_reported r
  WHERE r.customer_id IS NOT NULL AND r.day IN (SELECT day FROM touched_days WHERE rollup IN ('tests_created', 'tests_reported'))
) x
GROUP BY 1, 2;
