-- orders.sql: QBench orders → orders (of the schema first on search_path: qbench, or qbench_next during a replay).
--
-- Input: the batch staged by _incoming.sql (incoming, incoming_deleted). Setting qbsync.mode: 'incremental'
-- also records, in touched_days, the rollup days that depend on the changed orders (for
-- _rollups.sql); 'replay' skips that (the rollups are rebuilt whole once every table is loaded).
-- Fields: qbench-api.md §4 (Order); customer_id is customer_account_id; date_order_reported is date-only.
-- Typing: every value the mapping reads is taken as text in one pass over the record (jsonb_to_record), then
-- parsed once by the qbsync.* helpers (NULL when it does not parse). A value that is present, not null and not ""
-- but does not parse is recorded in parse_errors as {"value": <raw>, "error": "expected …"}; text columns
-- take any scalar as it is.

-- 1. Against the stored rows (older staged versions dropped, same versions merged): shared by every target.
-- @include _stored_versions

-- 2. Upsert, typed. The record's fields are read as text in one pass (jsonb_to_record) and parsed once per
-- row (the OFFSET 0 subquery), so parse_errors can test the typed values without parsing again.
WITH up AS (
  INSERT INTO orders AS t (id, customer_id, custom_formatted_id, state, date_created, date_received, date_completed,
                           date_order_reported, date_required, collected_date, sample_count, test_count, has_report,
                           partially_complete, report_emailed, last_updated, deleted, deleted_at, source_fetch_id,
                           parse_errors, payload)
  SELECT i.id, x.customer_id, x.custom_formatted_id, x.state, x.date_created, x.date_received, x.date_completed,
         x.date_order_reported, x.date_required, x.collected_date, x.sample_count, x.test_count, x.has_report,
         x.partially_complete, x.report_emailed,
         i.lu, coalesce(x.deleted_flag, false) OR i.deleted_at IS NOT NULL, i.deleted_at, i.fetch_id,
         qbsync.errors(jsonb_build_object(
           'customer_account_id', qbsync.bad(i.rec -> 'customer_account_id', x.customer_id IS NULL, 'an integer id'),
           'date_created',        qbsync.bad(i.rec -> 'date_created', x.date_created IS NULL, 'a date'),
           'date_received',       qbsync.bad(i.rec -> 'date_received', x.date_received IS NULL, 'a date'),
           'date_completed',      qbsync.bad(i.rec -> 'date_completed', x.date_completed IS NULL, 'a date'),
           'date_order_reported', qbsync.bad(i.rec -> 'date_order_reported', x.date_order_reported IS NULL, 'a date'),
           'date_required',       qbsync.bad(i.rec -> 'date_required', x.date_required IS NULL, 'a date'),
           'collected_date',      qbsync.bad(i.rec -> 'collected_date', x.collected_date IS NULL, 'a date'),
           'sample_count',        qbsync.bad(i.rec -> 'sample_count', x.sample_count IS NULL, 'an integer'),
           'test_count',          qbsync.bad(i.rec -> 'test_count', x.test_count IS NULL, 'an integer'),
           'has_report',          qbsync.bad(i.rec -> 'has_report', x.has_report IS NULL, 'a boolean'),
           'partially_complete',  qbsync.bad(i.rec -> 'partially_complete', x.partially_complete IS NULL, 'a boolean'),
           'report_emailed',      qbsync.bad(i.rec -> 'report_emailed', x.report_emailed IS NULL, 'a boolean'),
           'last_updated',        qbsync.bad(i.rec -> 'last_updated', i.lu IS NULL, 'unix seconds or a date'),
           'deleted',             qbsync.bad(i.rec -> 'deleted', x.deleted_flag IS NULL, 'a boolean'))),
         i.rec
  FROM incoming i
  CROSS JOIN LATERAL jsonb_to_record(i.rec) AS f(
    customer_account_id text, custom_formatted_id text, state text, date_created text, date_received text,
    date_completed text, date_order_reported text, date_required text, collected_date text, sample_count text,
    test_count text, has_report text, partially_complete text, report_emailed text, deleted text
  )
  CROSS JOIN LATERAL (
    SELECT qbsync.to_bigint(f.customer_account_id) AS customer_id,
           f.custom_formatted_id                   AS custom_formatted_id,
           f.state                                 AS state,
           qbsync.parse_ts(f.date_created)         AS date_created,
           qbsync.parse_ts(f.date_received)        AS date_received,
           qbsync.parse_ts(f.date_completed)       AS date_completed,
           qbsync.parse_ts(f.date_order_reported)  AS date_order_reported,
           qbsync.parse_ts(f.date_required)        AS date_required,
           qbsync.parse_ts(f.collected_date)       AS collected_date,
           qbsync.to_int(f.sample_count)           AS sample_count,
           qbsync.to_int(f.test_count)             AS test_count,
           qbsync.to_bool(f.has_report)            AS has_report,
           qbsync.to_bool(f.partially_complete)    AS partially_complete,
           qbsync.to_bool(f.report_emailed)        AS report_emailed,
           qbsync.to_bool(f.deleted)               AS deleted_flag
    OFFSET 0
  ) x
  ON CONFLICT (id) DO UPDATE SET
    (customer_id, custom_formatted_id, state, date_created, date_received, date_completed, date_order_reported,
     date_required, collected_date, sample_count, test_count, has_report, partially_complete, report_emailed,
     last_updated, deleted, deleted_at, source_fetch_id, parse_errors, payload)
  = (EXCLUDED.customer_id, EXCLUDED.custom_formatted_id, EXCLUDED.state, EXCLUDED.date_created,
     EXCLUDED.date_received, EXCLUDED.date_completed, EXCLUDED.date_order_reported, EXCLUDED.date_required,
     EXCLUDED.collected_date, EXCLUDED.sample_count, EXCLUDED.test_count, EXCLUDED.has_report,
     EXCLUDED.partially_complete, EXCLUDED.report_emailed, EXCLUDED.last_updated, EXCLUDED.deleted,
     EXCLUDED.deleted_at, EXCLUDED.source_fetch_id, EXCLUDED.parse_errors, EXCLUDED.payload)
  WHERE (t.payload, t.source_fetch_id, t.deleted_at) IS DISTINCT FROM (EXCLUDED.payload, EXCLUDED.source_fetch_id, EXCLUDED.deleted_at)
  RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated FROM up;

-- 3. Soft deletes from the Updates feed: shared by every target.
-- @include _soft_deletes

-- 4. Rollup days that depend on these orders: the order's customer is the customer of the rollup buckets
-- of its samples and of their tests. (Orders have no day bucket of their own.)
INSERT INTO touched_days (rollup, day)
SELECT 'samples', qbsync.lab_day(s.date_created)
FROM samples s
WHERE current_setting('qbsync.mode') = 'incremental'
  AND s.order_id IN (SELECT id FROM incoming UNION ALL SELECT id FROM incoming_deleted)
  AND s.date_created IS NOT NULL
UNION
SELECT d.rollup, d.day
FROM tests t
JOIN samples s ON s.id = t.sample_id
CROSS JOIN LATERAL (VALUES ('tests_created', qbsync.lab_day(t.date_created)),
                           ('tests_reported', qbsync.lab_day(t.report_completed_date))) AS d(rollup, day)
WHERE current_setting('qbsync.mode') = 'incremental'
  AND s.order_id IN (SELECT id FROM incoming UNION ALL SELECT id FROM incoming_deleted)
  AND d.day IS NOT NULL
ON CONFLICT DO NOTHING;
