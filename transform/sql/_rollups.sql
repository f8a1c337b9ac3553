-- _rollups.sql: the daily rollups, recomputed whole per day bucket from the typed rows (never +/- deltas).
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
INSERT INTO rollup_samples_daily (day, customer_id, sample_type, samples_created, samples_completed)
SELECT qbsync.lab_day(s.date_created), o.customer_id, s.sample_type, count(*), count(s.completed_date)
FROM scope
CROSS JOIN LATERAL (SELECT * FROM samples s WHERE s.date_created >= scope.lo AND s.date_created < scope.hi AND NOT s.deleted OFFSET 0) s
LEFT JOIN orders o ON o.id = s.order_id
GROUP BY 1, 2, 3;

DELETE FROM rollup_tests_created WHERE day IN (SELECT day FROM touched_days WHERE rollup = 'tests_created');

WITH scope AS (
  SELECT qbsync.day_start(day) AS lo, qbsync.day_start(day + 1) AS hi FROM touched_days WHERE rollup = 'tests_created'
  UNION ALL
  SELECT '-infinity', 'infinity' WHERE current_setting('qbsync.mode') = 'replay'
)
INSERT INTO rollup_tests_created (day, label_abbr, customer_id, sample_type, tests_created, tests_reported,
                                  tat_count, tat_sum, tat_hours)
SELECT qbsync.lab_day(t.date_created), t.label_abbr, o.customer_id, s.sample_type,
       count(*), count(t.report_completed_date), count(t.tat_hours),
       coalesce(sum(t.tat_hours ORDER BY t.tat_hours), 0),
       coalesce(array_agg(t.tat_hours ORDER BY t.tat_hours) FILTER (WHERE t.tat_hours IS NOT NULL), '{}')
FROM scope
CROSS JOIN LATERAL (SELECT * FROM tests t WHERE t.date_created >= scope.lo AND t.date_created < scope.hi AND NOT t.deleted OFFSET 0) t
LEFT JOIN samples s ON s.id = t.sample_id
LEFT JOIN orders o ON o.id = s.order_id
GROUP BY 1, 2, 3, 4;

DELETE FROM rollup_tests_reported WHERE day IN (SELECT day FROM touched_days WHERE rollup = 'tests_reported');

WITH scope AS (
  SELECT qbsync.day_start(day) AS lo, qbsync.day_start(day + 1) AS hi FROM touched_days WHERE rollup = 'tests_reported'
  UNION ALL
  SELECT '-infinity', 'infinity' WHERE current_setting('qbsync.mode') = 'replay'
)
INSERT INTO rollup_tests_reported (day, label_abbr, customer_id, sample_type, tests_reported, tat_count, tat_sum, tat_hours)
SELECT qbsync.lab_day(t.report_completed_date), t.label_abbr, o.customer_id, s.sample_type,
       count(*), count(t.tat_hours),
       coalesce(sum(t.tat_hours ORDER BY t.tat_hours), 0),
       coalesce(array_agg(t.tat_hours ORDER BY t.tat_hours) FILTER (WHERE t.tat_hours IS NOT NULL), '{}')
FROM scope
CROSS JOIN LATERAL (SELECT * FROM tests t WHERE t.report_completed_date >= scope.lo AND t.report_completed_date < scope.hi AND NOT t.deleted OFFSET 0) t
LEFT JOIN samples s ON s.id = t.sample_id
LEFT JOIN orders o ON o.id = s.order_id
GROUP BY 1, 2, 3, 4;
