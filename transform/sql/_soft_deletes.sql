-- _soft_deletes.sql: soft deletes from the Updates feed. Included by every target's file
-- ("-- @include _soft_deletes", expanded by transform/runner.ts sqlFile: the placeholder below is the target's table).
--
-- A row is deleted by the first delete that came after its current version was first seen (a stale copy
-- fetched later does not bring it back; a newer version does). Returns the count as "deleted".
WITH first_delete AS (
  SELECT DISTINCT ON (d.id) d.id, d.fetched_at
  FROM incoming_deleted d
  JOIN {{table}} t ON t.id = d.id
  WHERE d.fetch_id > t.source_fetch_id
  ORDER BY d.id, d.fetch_id
),
done AS (
  UPDATE {{table}} t SET deleted = true, deleted_at = f.fetched_at
  FROM first_delete f
  WHERE t.id = f.id AND t.deleted_at IS NULL
  RETURNING t.id
)
SELECT count(*) AS deleted FROM done;
