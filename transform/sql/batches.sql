-- batches.sql: QBench batches → batches (of the schema first on search_path: qbench, or qbench_next during a replay).
--
-- Input: the batch staged by _incoming.sql (incoming, incoming_deleted). No rollup depends on batches.
-- Fields: qbench-api.md §4 (Batch); batches are many-to-many with samples and tests.
-- Typing: every value the mapping reads is taken as text in one pass over the record (jsonb_to_record), then
-- parsed once by the qbsync.* helpers (NULL when it does not parse). A value that is present, not null and not ""
-- but does not parse is recorded in parse_errors as {"value": <raw>, "error": "expected …"}; text columns
-- take any scalar as it is.

-- 1. Against the stored rows (older staged versions dropped, same versions merged): shared by every target.
-- @include _stored_versions

-- 2. Upsert, typed. The record's fields are read as text in one pass (jsonb_to_record) and parsed once per
-- row (the OFFSET 0 subquery), so parse_errors can test the typed values without parsing again.
WITH up AS (
  INSERT INTO batches AS t (id, assay_id, display_name, batch_status, batch_complete, batch_processed, sample_ids,
                            test_ids, date_created, date_prepared, last_updated, deleted, deleted_at,
                            source_fetch_id, parse_errors, payload)
  SELECT i.id, x.assay_id, x.display_name, x.batch_status, x.batch_complete, x.batch_processed, x.sample_ids,
         x.test_ids, x.date_created, x.date_prepared,
         i.lu, coalesce(x.deleted_flag, false) OR i.deleted_at IS NOT NULL, i.deleted_at, i.fetch_id,
         qbsync.errors(jsonb_build_object(
           'assay_id',        qbsync.bad(i.rec -> 'assay_id', x.assay_id IS NULL, 'an integer id'),
           'batch_complete',  qbsync.bad(i.rec -> 'batch_complete', x.batch_complete IS NULL, 'a boolean'),
           'batch_processed', qbsync.bad(i.rec -> 'batch_processed', x.batch_processed IS NULL, 'a boolean'),
           'sample_ids',      qbsync.bad(i.rec -> 'sample_ids', x.sample_ids IS NULL, 'an array of ids'),
           'test_ids',        qbsync.bad(i.rec -> 'test_ids', x.test_ids IS NULL, 'an array of ids'),
           'date_created',    qbsync.bad(i.rec -> 'date_created', x.date_created IS NULL, 'a date'),
           'date_prepared',   qbsync.bad(i.rec -> 'date_prepared', x.date_prepared IS NULL, 'a date'),
           'last_updated',    qbsync.bad(i.rec -> 'last_updated', i.lu IS NULL, 'unix seconds or a date'),
           'deleted',         qbsync.bad(i.rec -> 'deleted', x.deleted_flag IS NULL, 'a boolean'))),
         i.rec
  FROM incoming i
  CROSS JOIN LATERAL jsonb_to_record(i.rec) AS f(
    assay_id text, display_name text, batch_status text, batch_complete text, batch_processed text,
    date_created text, date_prepared text, deleted text
  )
  CROSS JOIN LATERAL (
    SELECT qbsync.to_bigint(f.assay_id)         AS assay_id,
           f.display_name                       AS display_name,
           f.batch_status                       AS batch_status,
           qbsync.to_bool(f.batch_complete)     AS batch_complete,
           qbsync.to_bool(f.batch_processed)    AS batch_processed,
           qbsync.to_ids(i.rec -> 'sample_ids') AS sample_ids,
           qbsync.to_ids(i.rec -> 'test_ids')   AS test_ids,
           qbsync.parse_ts(f.date_created)      AS date_created,
           qbsync.parse_ts(f.date_prepared)     AS date_prepared,
           qbsync.to_bool(f.deleted)            AS deleted_flag
    OFFSET 0
  ) x
  ON CONFLICT (id) DO UPDATE SET
    (assay_id, display_name, batch_status, batch_complete, batch_processed, sample_ids, test_ids, date_created,
     date_prepared, last_updated, deleted, deleted_at, source_fetch_id, parse_errors, payload)
  = (EXCLUDED.assay_id, EXCLUDED.display_name, EXCLUDED.batch_status, EXCLUDED.batch_complete,
     EXCLUDED.batch_processed, EXCLUDED.sample_ids, EXCLUDED.test_ids, EXCLUDED.date_created, EXCLUDED.date_prepared,
     EXCLUDED.last_updated, EXCLUDED.deleted, EXCLUDED.deleted_at, EXCLUDED.source_fetch_id, EXCLUDED.parse_errors,
     EXCLUDED.payload)
  WHERE (t.payload, t.source_fetch_id, t.deleted_at) IS DISTINCT FROM (EXCLUDED.payload, EXCLUDED.source_fetch_id, EXCLUDED.deleted_at)
  RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated FROM up;

-- 3. Soft deletes from the Updates feed: shared by every target.
-- @include _soft_deletes
