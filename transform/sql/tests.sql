-- tests.sql: QBench tests → tests (of the schema first on search_path: qbench, or qbench_next during a replay).
--
-- Input: the batch staged by _incoming.sql (incoming, incoming_deleted). Setting qbsync.mode: 'incremental'
-- also records, in touched_days, the rollup days the changed rows sat in before and sit in after (for
-- _rollups.sql); 'replay' skips that (the rollups are rebuilt whole once every table is loaded).
-- Fields: qbench-api.md §4 (Test); label_abbr and title are top-level or only under assay.
-- Typing: every value the mapping reads is taken as text in one pass over the record (jsonb_to_record), then
-- parsed once by the qbsync.* helpers (NULL when it does not parse). A value that is present, not null and not ""
-- but does not parse is recorded in parse_errors as {"value": <raw>, "error": "expected …"}; text columns
-- take any scalar as it is.

-- 1. Rollup days the affected tests sit in before this batch.
INSERT INTO touched_days (rollup, day)
SELECT d.rollup, d.day
FROM tests t
CROSS JOIN LATERAL (VALUES ('tests_created', qbsync.lab_day(t.date_created)),
                           ('tests_reported', qbsync.lab_day(t.report_completed_date))) AS d(rollup, day)
WHERE current_setting('qbsync.mode') = 'incremental'
  AND t.id IN (SELECT id FROM incoming UNION ALL SELECT id FROM incoming_deleted)
  AND d.day IS NOT NULL
ON CONFLICT DO NOTHING;

-- 2. Against the stored rows (older staged versions dropped, same versions merged): shared by every target.
-- @include _stored_versions

-- 3. Upsert, typed. The record's fields are read as text in one pass (jsonb_to_record) and parsed once per
-- row (the OFFSET 0 subquery), so parse_errors can test the typed values without parsing again.
WITH up AS (
  INSERT INTO tests AS t (id, sample_id, assay_id, label_abbr, title, state, has_report, report_completed_date,
                          batch_ids, date_created, start_date, complete_date, estimated_start_date,
                          estimated_complete_date, tech_id, results, last_updated, deleted, deleted_at,
                          source_fetch_id, parse_errors, payload)
  SELECT i.id, x.sample_id, x.assay_id, x.label_abbr, x.title, x.state, x.has_report, x.report_completed_date,
         x.batch_ids, x.date_created, x.start_date, x.complete_date, x.estimated_start_date,
         x.estimated_complete_date, x.tech_id, x.results,
         i.lu, coalesce(x.deleted_flag, false) OR i.deleted_at IS NOT NULL, i.deleted_at, i.fetch_id,
         qbsync.errors(jsonb_build_object(
           'sample_id',               qbsync.bad(i.rec -> 'sample_id', x.sample_id IS NULL, 'an integer id'),
           'assay_id',                qbsync.bad(i.rec -> 'assay_id', x.assay_id IS NULL, 'an integer id'),
           'has_report',              qbsync.bad(i.rec -> 'has_report', x.has_report IS NULL, 'a boolean'),
           'report_completed_date',   qbsync.bad(i.rec -> 'report_completed_date', x.report_completed_date IS NULL, 'a date'),
           'batches',                 qbsync.bad(coalesce(i.rec -> 'batches', i.rec -> 'batch_ids'), x.batch_ids IS NULL, 'an array of ids'),
           'date_created',            qbsync.bad(i.rec -> 'date_created', x.date_created IS NULL, 'a date'),
           'start_date',              qbsync.bad(i.rec -> 'start_date', x.start_date IS NULL, 'a date'),
           'complete_date',           qbsync.bad(i.rec -> 'complete_date', x.complete_date IS NULL, 'a date'),
           'estimated_start_date',    qbsync.bad(i.rec -> 'estimated_start_date', x.estimated_start_date IS NULL, 'a date'),
           'estimated_complete_date', qbsync.bad(i.rec -> 'estimated_complete_date', x.estimated_complete_date IS NULL, 'a date'),
           'tech_id',                 qbsync.bad(i.rec -> 'tech_id', x.tech_id IS NULL, 'an integer id'),
           'last_updated',            qbsync.bad(i.rec -> 'last_updated', i.lu IS NULL, 'unix seconds or a date'),
           'deleted',                 qbsync.bad(i.rec -> 'deleted', x.deleted_flag IS NULL, 'a boolean'))),
         i.rec
  FROM incoming i
  CROSS JOIN LATERAL jsonb_to_record(i.rec) AS f(
    sample_id text, assay_id text, label_abbr text, title text, state text, has_report text,
    report_completed_date text, date_created text, start_date text, complete_date text,
    estimated_start_date text, estimated_complete_date text, tech_id text, results text, deleted text
  )
  CROSS JOIN LATERAL (
    SELECT qbsync.to_bigint(f.sample_id)                                     AS sample_id,
           qbsync.to_bigint(f.assay_id)                                      AS assay_id,
           coalesce(f.label_abbr, i.rec -> 'assay' ->> 'label_abbr')         AS label_abbr,
           coalesce(f.title, i.rec -> 'assay' ->> 'title')                   AS title,
           f.state                                                           AS state,
           qbsync.to_bool(f.has_report)                                      AS has_report,
           qbsync.parse_ts(f.report_completed_date)                          AS report_completed_date,
           qbsync.to_ids(coalesce(i.rec -> 'batches', i.rec -> 'batch_ids')) AS batch_ids,
           qbsync.parse_ts(f.date_created)                                   AS date_created,
           qbsync.parse_ts(f.start_date)                                     AS start_date,
           qbsync.parse_ts(f.complete_date)                                  AS complete_date,
           qbsync.parse_ts(f.estimated_start_date)                           AS estimated_start_date,
           qbsync.parse_ts(f.estimated_complete_date)                        AS estimated_complete_date,
           qbsync.to_bigint(f.tech_id)                                       AS tech_id,
           f.results                                                         AS results,
           qbsync.to_bool(f.deleted)                                         AS deleted_flag
    OFFSET 0
  ) x
  ON CONFLICT (id) DO UPDATE SET
    (sample_id, assay_id, label_abbr, title, state, has_report, report_completed_date, batch_ids, date_created,
     start_date, complete_date, estimated_start_date, estimated_complete_date, tech_id, results, last_updated,
     deleted, deleted_at, source_fetch_id, parse_errors, payload)
  = (EXCLUDED.sample_id, EXCLUDED.assay_id, EXCLUDED.label_abbr, EXCLUDED.title, EXCLUDED.state, EXCLUDED.has_report,
     EXCLUDED.report_completed_date, EXCLUDED.batch_ids, EXCLUDED.date_created, EXCLUDED.start_date,
     EXCLUDED.complete_date, EXCLUDED.estimated_start_date, EXCLUDED.estimated_complete_date, EXCLUDED.tech_id,
     EXCLUDED.results, EXCLUDED.last_updated, EXCLUDED.deleted, EXCLUDED.deleted_at, EXCLUDED.source_fetch_id,
     EXCLUDED.parse_errors, EXCLUDED.payload)
  WHERE (t.payload, t.source_fetch_id, t.deleted_at) IS DISTINCT FROM (EXCLUDED.payload, EXCLUDED.source_fetch_id, EXCLUDED.deleted_at)
  RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated FROM up;

-- 4. Soft deletes from the Updates feed: shared by every target.
-- @include _soft_deletes

-- 5. Rollup days the affected tests sit in now.
INSERT INTO touched_days (rollup, day)
SELECT d.rollup, d.day
FROM tests t
CROSS JOIN LATERAL (VALUES ('tests_created', qbsync.lab_day(t.date_created)),
                           ('tests_reported', qbsync.lab_day(t.report_completed_date))) AS d(rollup, day)
WHERE current_setting('qbsync.mode') = 'incremental'
  AND t.id IN (SELECT id FROM incoming UNION ALL SELECT id FROM incoming_deleted)
  AND d.day IS NOT NULL
ON CONFLICT DO NOTHING;
