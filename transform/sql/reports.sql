-- reports.sql: QBench reports → reports (of the schema first on search_path: qbench, or qbench_next during a replay).
--
-- Input: the batch staged by _incoming.sql (incoming, incoming_deleted). No rollup depends on reports.
-- Fields: qbench-api.md §4 (Report); render_params is a JSON string whose test_ids become test_ids.
-- Typing: every value the mapping reads is taken as text in one pass over the record (jsonb_to_record), then
-- parsed once by the qbsync.* helpers (NULL when it does not parse). A value that is present, not null and not ""
-- but does not parse is recorded in parse_errors as {"value": <raw>, "error": "expected …"}; text columns
-- take any scalar as it is.

-- 1. Against the stored rows (older staged versions dropped, same versions merged): shared by every target.
-- @include _stored_versions

-- 2. Upsert, typed. The record's fields are read as text in one pass (jsonb_to_record) and parsed once per
-- row (the OFFSET 0 subquery), so parse_errors can test the typed values without parsing again.
WITH up AS (
  INSERT INTO reports AS t (id, order_id, sample_id, test_id, state, render_status, is_public, emailed, test_ids,
                            date_generated, date_published, date_public, date_emailed, last_updated, deleted,
                            deleted_at, source_fetch_id, parse_errors, payload)
  SELECT i.id, x.order_id, x.sample_id, x.test_id, x.state, x.render_status, x.is_public, x.emailed, x.test_ids,
         x.date_generated, x.date_published, x.date_public, x.date_emailed,
         i.lu, coalesce(x.deleted_flag, false) OR i.deleted_at IS NOT NULL, i.deleted_at, i.fetch_id,
         qbsync.errors(jsonb_build_object(
           'order_id',       qbsync.bad(i.rec -> 'order_id', x.order_id IS NULL, 'an integer id'),
           'sample_id',      qbsync.bad(i.rec -> 'sample_id', x.sample_id IS NULL, 'an integer id'),
           'test_id',        qbsync.bad(i.rec -> 'test_id', x.test_id IS NULL, 'an integer id'),
           'is_public',      qbsync.bad(i.rec -> 'is_public', x.is_public IS NULL, 'a boolean'),
           'emailed',        qbsync.bad(i.rec -> 'emailed', x.emailed IS NULL, 'a boolean'),
           'render_params',  qbsync.bad(i.rec -> 'render_params', x.test_ids IS NULL, 'a JSON document with test_ids'),
           'date_generated', qbsync.bad(i.rec -> 'date_generated', x.date_generated IS NULL, 'a date'),
           'date_published', qbsync.bad(i.rec -> 'date_published', x.date_published IS NULL, 'a date'),
           'date_public',    qbsync.bad(i.rec -> 'date_public', x.date_public IS NULL, 'a date'),
           'date_emailed',   qbsync.bad(i.rec -> 'date_emailed', x.date_emailed IS NULL, 'a date'),
           'last_updated',   qbsync.bad(i.rec -> 'last_updated', i.lu IS NULL, 'unix seconds or a date'),
           'deleted',        qbsync.bad(i.rec -> 'deleted', x.deleted_flag IS NULL, 'a boolean'))),
         i.rec
  FROM incoming i
  CROSS JOIN LATERAL jsonb_to_record(i.rec) AS f(
    order_id text, sample_id text, test_id text, state text, render_status text, is_public text, emailed text,
    date_generated text, date_published text, date_public text, date_emailed text, deleted text
  )
  CROSS JOIN LATERAL (
    SELECT qbsync.to_bigint(f.order_id)                                             AS order_id,
           qbsync.to_bigint(f.sample_id)                                            AS sample_id,
           qbsync.to_bigint(f.test_id)                                              AS test_id,
           f.state                                                                  AS state,
           f.render_status                                                          AS render_status,
           qbsync.to_bool(f.is_public)                                              AS is_public,
           qbsync.to_bool(f.emailed)                                                AS emailed,
           qbsync.to_ids(qbsync.to_jsonb_doc(i.rec -> 'render_params') -> 'test_ids') AS test_ids,
           qbsync.parse_ts(f.date_generated)                                        AS date_generated,
           qbsync.parse_ts(f.date_published)                                        AS date_published,
           qbsync.parse_ts(f.date_public)                                           AS date_public,
           qbsync.parse_ts(f.date_emailed)                                          AS date_emailed,
           qbsync.to_bool(f.deleted)                                                AS deleted_flag
    OFFSET 0
  ) x
  ON CONFLICT (id) DO UPDATE SET
    (order_id, sample_id, test_id, state, render_status, is_public, emailed, test_ids, date_generated,
     date_published, date_public, date_emailed, last_updated, deleted, deleted_at, source_fetch_id, parse_errors,
     payload)
  = (EXCLUDED.order_id, EXCLUDED.sample_id, EXCLUDED.test_id, EXCLUDED.state, EXCLUDED.render_status,
     EXCLUDED.is_public, EXCLUDED.emailed, EXCLUDED.test_ids, EXCLUDED.date_generated, EXCLUDED.date_published,
     EXCLUDED.date_public, EXCLUDED.date_emailed, EXCLUDED.last_updated, EXCLUDED.deleted, EXCLUDED.deleted_at,
     EXCLUDED.source_fetch_id, EXCLUDED.parse_errors, EXCLUDED.payload)
  WHERE (t.payload, t.source_fetch_id, t.deleted_at) IS DISTINCT FROM (EXCLUDED.payload, EXCLUDED.source_fetch_id, EXCLUDED.deleted_at)
  RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated FROM up;

-- 3. Soft deletes from the Updates feed: shared by every target.
-- @include _soft_deletes
