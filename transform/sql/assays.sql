-- assays.sql: QBench assays → assays (of the schema first on search_path: qbench, or qbench_next during a replay).
--
-- Input: the batch staged by _incoming.sql (incoming, incoming_deleted). No rollup depends on assays.
-- Fields: qbench-api.md §4 (Assay).
-- Typing: every value the mapping reads is taken as text in one pass over the record (jsonb_to_record), then
-- parsed once by the qbsync.* helpers (NULL when it does not parse). A value that is present, not null and not ""
-- but does not parse is recorded in parse_errors as {"value": <raw>, "error": "expected …"}; text columns
-- take any scalar as it is.

-- 1. Against the stored rows (older staged versions dropped, same versions merged): shared by every target.
-- @include _stored_versions

-- 2. Upsert, typed. The record's fields are read as text in one pass (jsonb_to_record) and parsed once per
-- row (the OFFSET 0 subquery), so parse_errors can test the typed values without parsing again.
WITH up AS (
  INSERT INTO assays AS t (id, label_abbr, title, duration, default_technician_id, date_created, last_updated,
                           deleted, deleted_at, source_fetch_id, parse_errors, payload)
  SELECT i.id, x.label_abbr, x.title, x.duration, x.default_technician_id, x.date_created,
         i.lu, coalesce(x.deleted_flag, false) OR i.deleted_at IS NOT NULL, i.deleted_at, i.fetch_id,
         qbsync.errors(jsonb_build_object(
           'default_technician_id', qbsync.bad(i.rec -> 'default_technician_id', x.default_technician_id IS NULL, 'an integer id'),
           'date_created',          qbsync.bad(i.rec -> 'date_created', x.date_created IS NULL, 'a date'),
           'last_updated',          qbsync.bad(i.rec -> 'last_updated', i.lu IS NULL, 'unix seconds or a date'),
           'deleted',               qbsync.bad(i.rec -> 'deleted', x.deleted_flag IS NULL, 'a boolean'))),
         i.rec
  FROM incoming i
  CROSS JOIN LATERAL jsonb_to_record(i.rec) AS f(
    label_abbr text, title text, duration text, default_technician_id text, date_created text, deleted text
  )
  CROSS JOIN LATERAL (
    SELECT f.label_abbr                              AS label_abbr,
           f.title                                   AS title,
           f.duration                                AS duration,
           qbsync.to_bigint(f.default_technician_id) AS default_technician_id,
           qbsync.parse_ts(f.date_created)           AS date_created,
           qbsync.to_bool(f.deleted)                 AS deleted_flag
    OFFSET 0
  ) x
  ON CONFLICT (id) DO UPDATE SET
    (label_abbr, title, duration, default_technician_id, date_created, last_updated, deleted, deleted_at,
     source_fetch_id, parse_errors, payload)
  = (EXCLUDED.label_abbr, EXCLUDED.title, EXCLUDED.duration, EXCLUDED.default_technician_id, EXCLUDED.date_created,
     EXCLUDED.last_updated, EXCLUDED.deleted, EXCLUDED.deleted_at, EXCLUDED.source_fetch_id, EXCLUDED.parse_errors,
     EXCLUDED.payload)
  WHERE (t.payload, t.source_fetch_id, t.deleted_at) IS DISTINCT FROM (EXCLUDED.payload, EXCLUDED.source_fetch_id, EXCLUDED.deleted_at)
  RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated FROM up;

-- 3. Soft deletes from the Updates feed: shared by every target.
-- @include _soft_deletes
