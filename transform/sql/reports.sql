-- reports.sql: QBench reports → reports (of the schema first on search_path: qbench, or qbench_next during a replay).
--
-- Input: the batch staged by _incoming.sql (incoming, incoming_deleted). No rollup depends on reports.
-- Fields: qbench-api.md §4 (Report); render_params is a JSON string whose test_ids become test_ids.
-- Typing: every value the mapping reads is taken as text in one pass over the record (jsonb_to_record), then
-- parsed by the qbsync.* helpers (NULL when it does not parse). A value that is present, not null and not ""
-- but does not parse is recorded in parse_errors as {"value": <raw>, "error": "expected …"}; text columns
-- take any scalar as it is.

-- 1. Upsert the newest versions. Against the stored row: an older version is ignored; the same version (same
-- last_updated) is merged into it and keeps its first fetch and soft delete; a newer version replaces it.
WITH src AS (
  SELECT i.id, i.lu,
         CASE WHEN s.same THEN (SELECT c.payload FROM reports c WHERE c.id = i.id) || i.rec ELSE i.rec END AS rec,
         CASE WHEN s.same THEN cur.source_fetch_id ELSE i.fetch_id END AS source_fetch_id,
         CASE WHEN s.same THEN cur.deleted_at END AS deleted_at
  FROM incoming i
  LEFT JOIN (SELECT id, last_updated, source_fetch_id, deleted_at FROM reports) cur ON cur.id = i.id
  CROSS JOIN LATERAL (SELECT cur.id IS NOT NULL AND i.lu IS NOT DISTINCT FROM cur.last_updated AS same) s
  WHERE cur.id IS NULL OR coalesce(i.lu, '-infinity') >= coalesce(cur.last_updated, '-infinity')
),
typed AS MATERIALIZED (
  SELECT s.id, s.lu, s.rec, s.source_fetch_id, s.deleted_at,
         qbsync.to_bigint(f.order_id)                                             AS order_id,
         qbsync.to_bigint(f.sample_id)                                            AS sample_id,
         qbsync.to_bigint(f.test_id)                                              AS test_id,
         f.state                                                                  AS state,
         f.render_status                                                          AS render_status,
         qbsync.to_bool(f.is_public)                                              AS is_public,
         qbsync.to_bool(f.emailed)                                                AS emailed,
         qbsync.to_ids(qbsync.to_jsonb_doc(s.rec -> 'render_params') -> 'test_ids') AS test_ids,
         qbsync.parse_ts(f.date_generated)                                        AS date_generated,
         qbsync.parse_ts(f.date_published)                                        AS date_published,
         qbsync.parse_ts(f.date_public)                                           AS date_public,
         qbsync.parse_ts(f.date_emailed)                                          AS date_emailed,
         qbsync.to_bool(f.deleted)                                                AS deleted_flag
  FROM src s
  CROSS JOIN LATERAL jsonb_to_record(s.rec) AS f(
    order_id text, sample_id text, test_id text, state text, render_status text, is_public text, emailed text,
    date_generated text, date_published text, date_public text, date_emailed text, deleted text
  )
),
up AS (
  INSERT INTO reports AS t (id, order_id, sample_id, test_id, state, render_status, is_public, emailed, test_ids,
                            date_generated, date_published, date_public, date_emailed, last_updated, deleted,
                            deleted_at, source_fetch_id, parse_errors, payload)
  SELECT id, order_id, sample_id, test_id, state, render_status, is_public, emailed, test_ids, date_generated,
         date_published, date_public, date_emailed,
         lu, coalesce(deleted_flag, false) OR deleted_at IS NOT NULL, deleted_at, source_fetch_id,
         qbsync.errors(jsonb_build_object(
           'order_id',       qbsync.bad(rec -> 'order_id', order_id IS NULL, 'an integer id'),
           'sample_id',      qbsync.bad(rec -> 'sample_id', sample_id IS NULL, 'an integer id'),
           'test_id',        qbsync.bad(rec -> 'test_id', test_id IS NULL, 'an integer id'),
           'is_public',      qbsync.bad(rec -> 'is_public', is_public IS NULL, 'a boolean'),
           'emailed',        qbsync.bad(rec -> 'emailed', emailed IS NULL, 'a boolean'),
           'render_params',  qbsync.bad(rec -> 'render_params', test_ids IS NULL, 'a JSON document with test_ids'),
           'date_generated', qbsync.bad(rec -> 'date_generated', date_generated IS NULL, 'a date'),
           'date_published', qbsync.bad(rec -> 'date_published', date_published IS NULL, 'a date'),
           'date_public',    qbsync.bad(rec -> 'date_public', date_public IS NULL, 'a date'),
           'date_emailed',   qbsync.bad(rec -> 'date_emailed', date_emailed IS NULL, 'a date'),
           'last_updated',   qbsync.bad(rec -> 'last_updated', lu IS NULL, 'unix seconds or a date'),
           'deleted',        qbsync.bad(rec -> 'deleted', deleted_flag IS NULL, 'a boolean'))),
         rec
  FROM typed
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

-- 2. Soft deletes from the Updates feed: a row is deleted by the first delete that came after its current
-- version was first seen (a stale copy fetched later does not bring it back; a newer version does).
WITH first_delete AS (
  SELECT DISTINCT ON (d.id) d.id, d.fetched_at
  FROM incoming_deleted d
  JOIN reports t ON t.id = d.id
  WHERE d.fetch_id > t.source_fetch_id
  ORDER BY d.id, d.fetch_id
),
done AS (
  UPDATE reports t SET deleted = true, deleted_at = f.fetched_at
  FROM first_delete f
  WHERE t.id = f.id AND t.deleted_at IS NULL
  RETURNING t.id
)
SELECT count(*) AS deleted FROM done;
