-- _stored_versions.sql: reconciles the staged batch with the stored rows. Included by every target's file
-- ("-- @include _stored_versions", expanded by transform/runner.ts sqlFile: the placeholder below is the target's table).
--
-- A staged version older than the stored one is dropped; the same version (same last_updated, e.g. a list item
-- and its detail) is merged into the stored payload and keeps its first fetch and soft delete; a newer version
-- replaces the row.
-- (Correlated subqueries: one primary-key probe per staged row, never a scan of the whole table.)
DELETE FROM incoming i
WHERE (SELECT coalesce(i.lu, '-infinity') < coalesce(c.last_updated, '-infinity') FROM {{table}} c WHERE c.id = i.id);

UPDATE incoming i
SET (rec, fetch_id, deleted_at) = (SELECT c.payload || i.rec, c.source_fetch_id, c.deleted_at FROM {{table}} c WHERE c.id = i.id)
WHERE (SELECT i.lu IS NOT DISTINCT FROM c.last_updated FROM {{table}} c WHERE c.id = i.id);
