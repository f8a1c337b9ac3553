-- _incoming.sql: stages one batch of raw events for one entity, before the target's own file runs.
--
-- Settings (transaction-local, set by transform/runner.ts with set_config):
--   qbsync.entity      raw.fetches.entity of the target (customers, orders, samples, batches, tests, assays, reports)
--   qbsync.from_fetch  the target's watermark: fetches with a larger id are in this batch ...
--   qbsync.to_fetch    ... up to and including this id
--
-- Produces three temporary tables, dropped at commit:
--   incoming(id, lu, fetch_id, rec, deleted_at)  one row per record id: its newest version in the batch (the
--                                            target file reconciles it with the stored row)
--   incoming_deleted(id, fetch_id, fetched_at)  every "deleted" id of the batch's Updates responses
--   touched_days(rollup, day)                filled by the target file (incremental runs) for _rollups.sql

DROP TABLE IF EXISTS pg_temp.incoming, pg_temp.incoming_deleted, pg_temp.touched_days;

-- Newest version per id: the greatest QBench last_updated (a record without a readable one counts as oldest).
-- Versions that share that last_updated are merged in fetch order (later fetches win per key, keys only an
-- earlier fetch carried are kept: a v1 test list item may lack label_abbr that its detail has); fetch_id is
-- the first fetch that carried this version. Embedded child lists (a sample detail's tests, an order detail's
-- samples) are not part of the record. Records without a usable id cannot be keyed and are left to
-- `qbsync report drift`.
CREATE TEMP TABLE incoming ON COMMIT DROP AS
WITH records AS (
  SELECT f.id AS fetch_id, r.n, r.rec
  FROM raw.fetches f
  JOIN raw.page_bodies b ON b.sha256 = f.body_sha256
  CROSS JOIN LATERAL jsonb_array_elements(qbsync.records_of(f.kind, b.body)) WITH ORDINALITY AS r(rec, n)
  WHERE f.entity = current_setting('qbsync.entity')
    AND f.id > current_setting('qbsync.from_fetch')::bigint
    AND f.id <= current_setting('qbsync.to_fetch')::bigint
),
versions AS (
  SELECT qbsync.to_bigint(rec ->> 'id') AS id,
         qbsync.parse_ts(rec ->> 'last_updated') AS lu,
         fetch_id, n,
         CASE current_setting('qbsync.entity') WHEN 'samples' THEN rec - 'tests' WHEN 'orders' THEN rec - 'samples' ELSE rec END AS rec
  FROM records
  WHERE jsonb_typeof(rec) = 'object'
),
ranked AS (
  SELECT v.*, rank() OVER (PARTITION BY id ORDER BY lu DESC NULLS LAST) AS rk
  FROM versions v
  WHERE id IS NOT NULL
)
SELECT id, lu, min(fetch_id) AS fetch_id, qbsync.jsonb_merge(rec ORDER BY fetch_id, n) AS rec, NULL::timestamptz AS deleted_at
FROM ranked
WHERE rk = 1
GROUP BY id, lu;

CREATE TEMP TABLE incoming_deleted ON COMMIT DROP AS
SELECT coalesce(qbsync.to_bigint(d.v #>> '{}'), qbsync.to_bigint(d.v ->> 'id')) AS id, f.id AS fetch_id, f.fetched_at
FROM raw.fetches f
JOIN raw.page_bodies b ON b.sha256 = f.body_sha256
CROSS JOIN LATERAL jsonb_array_elements(
  CASE WHEN jsonb_typeof(b.body -> 'deleted') = 'array' THEN b.body -> 'deleted' ELSE '[]'::jsonb END) AS d(v)
WHERE f.entity = current_setting('qbsync.entity')
  AND f.kind = 'updates'
  AND f.id > current_setting('qbsync.from_fetch')::bigint
  AND f.id <= current_setting('qbsync.to_fetch')::bigint
  AND coalesce(qbsync.to_bigint(d.v #>> '{}'), qbsync.to_bigint(d.v ->> 'id')) IS NOT NULL;

CREATE TEMP TABLE touched_days (rollup text NOT NULL, day date NOT NULL, PRIMARY KEY (rollup, day)) ON COMMIT DROP;

-- Row count and id statistics for the planner (the record column is not worth sampling).
ANALYZE incoming (id, lu);

SELECT count(*) AS staged FROM incoming;
