-- customers.sql: QBench customers → customers (of the schema first on search_path: qbench, or qbench_next during a replay).
--
-- Input: the batch staged by _incoming.sql (incoming, incoming_deleted). No rollup depends on customers.
-- Fields: qbench-api.md §4 (Customer); date_created is null for legacy accounts.
-- Typing: every value the mapping reads is taken as text in one pass over the record (jsonb_to_record), then
-- parsed once by the qbsync.* helpers (NULL when it does not parse). A value that is present, not null and not ""
-- but does not parse is recorded in parse_errors as {"value": <raw>, "error": "expected …"}; text columns
-- take any scalar as it is.

-- 1. Against the stored rows (older staged versions dropped, same versions merged): shared by every target.
-- @include _stored_versions

-- 2. Upsert, typed. The record's fields are read as text in one pass (jsonb_to_record) and parsed once per
-- row (the OFFSET 0 subquery), so parse_errors can test the typed values without parsing again.
WITH up AS (
  INSERT INTO customers AS t (id, customer_name, account_number, license_number, email, date_created, last_updated,
                              deleted, deleted_at, source_fetch_id, parse_errors, payload)
  SELECT i.id, x.customer_name, x.account_number, x.license_number, x.email, x.date_created,
         i.lu, coalesce(x.deleted_flag, false) OR i.deleted_at IS NOT NULL, i.deleted_at, i.fetch_id,
         qbsync.errors(jsonb_build_object(
           'date_created', qbsync.bad(i.rec -> 'date_created', x.date_created IS NULL, 'a date'),
           'last_updated', qbsync.bad(i.rec -> 'last_updated', i.lu IS NULL, 'unix seconds or a date'),
           'deleted',      qbsync.bad(i.rec -> 'deleted', x.deleted_flag IS NULL, 'a boolean'))),
         i.rec
  FROM incoming i
  CROSS JOIN LATERAL jsonb_to_record(i.rec) AS f(
    customer_name text, account_number text, license_number text, email text, date_created text, deleted text
  )
  CROSS JOIN LATERAL (
    SELECT f.customer_name                 AS customer_name,
           f.account_number                AS account_number,
           f.license_number                AS license_number,
           f.email                         AS email,
           qbsync.parse_ts(f.date_created) AS date_created,
           qbsync.to_bool(f.deleted)       AS deleted_flag
    OFFSET 0
  ) x
  ON CONFLICT (id) DO UPDATE SET
    (customer_name, account_number, license_number, email, date_created, last_updated, deleted, deleted_at,
     source_fetch_id, parse_errors, payload)
  = (EXCLUDED.customer_name, EXCLUDED.account_number, EXCLUDED.license_number, EXCLUDED.email, EXCLUDED.date_created,
     EXCLUDED.last_updated, EXCLUDED.deleted, EXCLUDED.deleted_at, EXCLUDED.source_fetch_id, EXCLUDED.parse_errors,
     EXCLUDED.payload)
  WHERE (t.payload, t.source_fetch_id, t.deleted_at) IS DISTINCT FROM (EXCLUDED.payload, EXCLUDED.source_fetch_id, EXCLUDED.deleted_at)
  RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated FROM up;

-- 3. Soft deletes from the Updates feed: shared by every target.
-- @include _soft_deletes
