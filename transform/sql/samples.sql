-- samples.sql: QBench samples → samples (of the schema first on search_path: qbench, or qbench_next during a replay).
--
-- Input: the batch staged by _incoming.sql (incoming, incoming_deleted). Setting qbsync.mode: 'incremental'
-- also records, in touched_days, the rollup days the changed rows sat in before and sit in after (for
-- _rollups.sql); 'replay' skips that (the rollups are rebuilt whole once every table is loaded).
-- Fields: qbench-api.md §4 (Sample); sample_type is accessioning_type.value.
-- Typing: every value the mapping reads is taken as text in one pass over the record (jsonb_to_record), then
-- parsed once by the qbsync.* helpers (NULL when it does not parse). A value that is present, not null and not ""
-- but does not parse is recorded in parse_errors as {"value": <raw>, "error": "expected …"}; text columns
-- take any scalar as it is.

-- 1. Rollup days the affected samples sit in before this batch.
INSERT INTO touched_days (rollup, day)
SELECT 'samples', qbsync.lab_day(s.date_created)
FROM samples s
WHERE current_setting('qbsync.mode') = 'incremental'
  AND s.id IN (SELECT id FROM incoming UNION ALL SELECT id FROM incoming_deleted)
  AND s.date_created IS NOT NULL
ON CONFLICT DO NOTHING;

-- 2. Against the stored rows (older staged versions dropped, same versions merged): shared by every target.
-- @include _stored_versions

-- 3. Upsert, typed. The record's fields are read as text in one pass (jsonb_to_record) and parsed once per
-- row (the OFFSET 0 subquery), so parse_errors can test the typed values without parsing again.
WITH up AS (
  INSERT INTO samples AS t (id, order_id, custom_formatted_id, sample_name, state, sample_type, matrix_type,
                            has_report, batch_ids, test_count, date_created, start_date, completed_date,
                            sample_weight, leaf_id, last_updated, deleted, deleted_at, source_fetch_id, parse_errors,
                            payload)
  SELECT i.id, x.order_id, x.custom_formatted_id, x.sample_name, x.state, x.sample_type, x.matrix_type, x.has_report,
         x.batch_ids, x.test_count, x.date_created, x.start_date, x.completed_date, x.sample_weight, x.leaf_id,
         i.lu, coalesce(x.deleted_flag, false) OR i.deleted_at IS NOT NULL, i.deleted_at, i.fetch_id,
         qbsync.errors(jsonb_build_object(
           'order_id',          qbsync.bad(i.rec -> 'order_id', x.order_id IS NULL, 'an integer id'),
           'accessioning_type', qbsync.bad(i.rec -> 'accessioning_type', x.sample_type IS NULL, 'an object with a value'),
           'has_report',        qbsync.bad(i.rec -> 'has_report', x.has_report IS NULL, 'a boolean'),
           'batches',           qbsync.bad(coalesce(i.rec -> 'batches', i.rec -> 'batch_ids'), x.batch_ids IS NULL, 'an array of ids'),
           'test_count',        qbsync.bad(i.rec -> 'test_count', x.test_count IS NULL, 'an integer'),
           'date_created',      qbsync.bad(i.rec -> 'date_created', x.date_created IS NULL, 'a date'),
           'start_date',        qbsync.bad(i.rec -> 'start_date', x.start_date IS NULL, 'a date'),
           'completed_date',    qbsync.bad(i.rec -> 'completed_date', x.completed_date IS NULL, 'a date'),
           'complete_date',     qbsync.bad(i.rec -> 'complete_date', x.completed_date IS NULL, 'a date'),
           'last_updated',      qbsync.bad(i.rec -> 'last_updated', i.lu IS NULL, 'unix seconds or a date'),
           'deleted',           qbsync.bad(i.rec -> 'deleted', x.deleted_flag IS NULL, 'a boolean'))),
         i.rec
  FROM incoming i
  CROSS JOIN LATERAL jsonb_to_record(i.rec) AS f(
    order_id text, custom_formatted_id text, sample_name text, description text, state text, matrix_type text,
    has_report text, test_count text, date_created text, start_date text, completed_date text,
    complete_date text, sample_weight text, leaf_id text, deleted text
  )
  CROSS JOIN LATERAL (
    SELECT qbsync.to_bigint(f.order_id)                                             AS order_id,
           f.custom_formatted_id                                                    AS custom_formatted_id,
           coalesce(f.sample_name, f.description)                                   AS sample_name,
           f.state                                                                  AS state,
           coalesce(i.rec -> 'accessioning_type' ->> 'value', qbsync.to_text(i.rec -> 'accessioning_type')) AS sample_type,
           f.matrix_type                                                            AS matrix_type,
           qbsync.to_bool(f.has_report)                                             AS has_report,
           qbsync.to_ids(coalesce(i.rec -> 'batches', i.rec -> 'batch_ids'))        AS batch_ids,
           qbsync.to_int(f.test_count)                                              AS test_count,
           qbsync.parse_ts(f.date_created)                                          AS date_created,
           qbsync.parse_ts(f.start_date)                                            AS start_date,
           coalesce(qbsync.parse_ts(f.completed_date), qbsync.parse_ts(f.complete_date)) AS completed_date,
           f.sample_weight                                                          AS sample_weight,
           f.leaf_id                                                                AS leaf_id,
           qbsync.to_bool(f.deleted)                                                AS deleted_flag
    OFFSET 0
  ) x
  ON CONFLICT (id) DO UPDATE SET
    (order_id, custom_formatted_id, sample_name, state, sample_type, matrix_type, has_report, batch_ids, test_count,
     date_created, start_date, completed_date, sample_weight, leaf_id, last_updated, deleted, deleted_at,
     source_fetch_id, parse_errors, payload)
  = (EXCLUDED.order_id, EXCLUDED.custom_formatted_id, EXCLUDED.sample_name, EXCLUDED.state, EXCLUDED.sample_type,
     EXCLUDED.matrix_type, EXCLUDED.has_report, EXCLUDED.batch_ids, EXCLUDED.test_count, EXCLUDED.date_created,
     EXCLUDED.start_date, EXCLUDED.completed_date, EXCLUDED.sample_weight, EXCLUDED.leaf_id, EXCLUDED.last_updated,
     EXCLUDED.deleted, EXCLUDED.deleted_at, EXCLUDED.source_fetch_id, EXCLUDED.parse_errors, EXCLUDED.payload)
  WHERE (t.payload, t.source_fetch_id, t.deleted_at) IS DISTINCT FROM (EXCLUDED.payload, EXCLUDED.source_fetch_id, EXCLUDED.deleted_at)
  RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated FROM up;

-- 4. Soft deletes from the Updates feed: shared by every target.
-- @include _soft_deletes

-- 5. Rollup days the affected samples sit in now, and every day their tests sit in: a test's rollup bucket
-- carries its sample's sample_type and (through order_id) customer.
INSERT INTO touched_days (rollup, day)
SELECT 'samples', qbsync.lab_day(s.date_created)
FROM samples s
WHERE current_setting('qbsync.mode') = 'incremental'
  AND s.id IN (SELECT id FROM incoming UNION ALL SELECT id FROM incoming_deleted)
  AND s.date_created IS NOT NULL
UNION
SELECT d.rollup, d.day
FROM tests t
CROSS JOIN LATERAL (VALUES ('tests_created', qbsync.lab_day(t.date_created)),
                           ('tests_reported', qbsync.lab_day(t.report_completed_date))) AS d(rollup, day)
WHERE current_setting('qbsync.mode') = 'incremental'
  AND t.sample_id IN (SELECT id FROM incoming UNION ALL SELECT id FROM incoming_deleted)
  AND d.day IS NOT NULL
ON CONFLICT DO NOTHING;
