-- assays.sql: QBench assays → assays (of the schema first on search_path: qbench, or qbench_next during a replay).
--
-- Input: the batch staged by _incoming.sql (incoming, incoming_deleted). No rollup depends on assays.
-- Fields: qbench-api.md §4 (Assay).
-- Typing: every value the mapping reads is taken as text in one pass over the record (jsonb_to_record), then
-- parsed by the qbsync.* helpers (NULL when it does not parse). A value that is present, not null and not ""
-- but does not parse is recorded in parse_errors as {"value": <raw>, "error": "expected …"}; text columns
-- take any scalar as it is.

-- 1. Upsert the newest versions. Against the stored row: an older version is ignored; the same version (same
-- last_updated) is merged into it and keeps its first fetch and soft delete; a newer version replaces it.
WITH src AS (
  SELECT i.id, i.lu,
         CASE WHEN s.same THEN (SELECT c.payload FROM assays c WHERE c.id = i.id) || i.rec ELSE i.rec END AS rec,
         CASE WHEN s.same THEN cur.source_fetch_id ELSE i.fetch_id END AS source_fetch_id,
         CASE WHEN s.same THEN cur.deleted_at END AS deleted_at
  FROM incoming i
  LEFT JOIN (SELECT id, last_updated, source_fetch_id, deleted_at FROM assays) cur ON cur.id = i.id
  CROSS JOIN LATERAL (SELECT cur.id IS NOT NULL AND i.lu IS NOT DISTINCT FROM cur.last_updated AS same) s
  WHERE cur.id IS NULL OR coalesce(i.lu, '-infinity') >= coalesce(cur.last_updated, '-infinity')
),
typed AS MATERIALIZED (
  SELECT s.id, s.lu, s.rec, s.source_fetch_id, s.deleted_at,
         f.label_abbr                              AS label_abbr,
         f.title                                   AS title,
         f.duration                                AS duration,
         qbsync.to_bigint(f.default_technician_id) AS default_technician_id,
         qbsync.parse_ts(f.date_created)           AS date_created,
         qbsync.to_bool(f.deleted)                 AS deleted_flag
  FROM src s
  CROSS JOIN LATERAL jsonb_to_record(s.rec) AS f(
    label_abbr text, title text, duration text, default_technician_id text, date_created text, deleted text
  )
),
up AS (
  INSERT INTO assays AS t (id, label_abbr, title, duration, default_technician_id, date_created, last_updated,
                           deleted, deleted_at, source_fetch_id, parse_errors, payload)
  SELECT id, label_abbr, title, duration, default_technician_id, date_created,
         lu, coalesce(deleted_flag, false) OR deleted_at IS NOT NULL, deleted_at, source_fetch_id,
         qbsync.errors(jsonb_build_object(
           'default_technician_id', qbsync.bad(rec -> 'default_technician_id', default_technician_id IS NULL, 'an integer id'),
           'date_created',          qbsync.bad(rec -> 'date_created', date_created IS NULL, 'a date'),
           'last_updated',          qbsync.bad(rec -> 'last_updated', lu IS NULL, 'unix seconds or a date'),
           'deleted',               qbsync.bad(rec -> 'deleted', deleted_flag IS NULL, 'a boolean'))),
         rec
  FROM typed
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

-- 2. Soft deletes from the Updates feed: a row is deleted by the first delete that came after its current
-- version was first seen (a stale copy fetched later does not bring it back; a newer version does).
WITH first_delete AS (
  SELECT DISTINCT ON (d.id) d.id, d.fetched_at
  FROM incoming_deleted d
  JOIN assays t ON t.id = d.id
  WHERE d.fetch_id > t.source_fetch_id
  ORDER BY d.id, d.fetch_id
),
done AS (
  UPDATE assays t SET deleted = true, deleted_at = f.fetched_at
  FROM first_delete f
  WHERE t.id = f.id AND t.deleted_at IS NULL
  RETURNING t.id
)
SELECT count(*) AS deleted FROM done;
