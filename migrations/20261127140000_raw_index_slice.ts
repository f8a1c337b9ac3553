import type { Knex } from 'knex';

/**
 * qbsync.index_raw_slice (20261127120000_raw_index), same results, cheaper:
 * - the "body landed before for the entity and kind" check is answered through raw.fetches' body index alone: the
 *   planner used to combine it with (entity, id < this id) and walk every earlier event of the entity, so a slice
 *   cost more the larger raw grew (quadratic over a sync of a medium lab);
 * - each value is read out of a record once, then parsed (the inlined date helpers use their argument many times);
 * - raw_record_events rows go in in key order.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(String.raw`
    CREATE OR REPLACE FUNCTION qbsync.index_raw_slice(lo bigint, hi bigint) RETURNS void
    LANGUAGE sql AS $fn$
      WITH fx AS MATERIALIZED (
        -- The slice's events. "fresh": no earlier event of the entity and kind carried the same body (its records were
        -- applied then; applying them again would change nothing but the rare flip-back of an undated record).
        SELECT f.id AS fid, f.entity, f.kind, f.body_sha256,
               -- Found through the body's index alone (OFFSET 0: the planner would otherwise also walk every earlier
               -- event of the entity, which made a slice's cost grow with the size of raw).
               NOT EXISTS (SELECT 1 FROM (SELECT o.id, o.entity, o.kind FROM raw.fetches o WHERE o.body_sha256 = f.body_sha256 OFFSET 0) o
                           WHERE o.entity = f.entity AND o.kind = f.kind AND o.id < f.id) AS fresh
        FROM raw.fetches f
        WHERE f.id > lo AND f.id <= hi
      ), recs AS MATERIALIZED (
        SELECT fx.entity, fx.fid, r.ord, x.rid, x.versioned, y.lu,
               CASE WHEN x.versioned AND y.lu IS NULL THEN md5(r.rec::text) END AS md5, qbsync.rr_ts(y.dcs) AS dc
        FROM fx
        JOIN raw.page_bodies b ON b.sha256 = fx.body_sha256
        CROSS JOIN LATERAL jsonb_array_elements(qbsync.records_of(fx.kind, b.body)) WITH ORDINALITY AS r(rec, ord)
        -- raw_records takes what qbsync.rr_records gives: not the object inside a detail's {"data": {...}} wrapper
        CROSS JOIN LATERAL (SELECT qbsync.rr_id(r.rec) AS rid,
                                   fx.fresh AND NOT (fx.kind = 'detail' AND (b.body -> 'id') IS NULL) AS versioned) AS x
        -- Each value read out of the record once (OFFSET 0 keeps the planner from substituting the expressions back
        -- into the inlined helpers, which use their argument many times).
        CROSS JOIN LATERAL (SELECT CASE WHEN x.versioned THEN qbsync.rr_lu(r.rec) END AS lu,
                                   CASE WHEN x.versioned THEN r.rec ->> 'date_created' END AS dcs OFFSET 0) AS y
        WHERE jsonb_typeof(r.rec) = 'object' AND x.rid IS NOT NULL
      ), ev AS (
        INSERT INTO qbsync.raw_record_events (entity, id, fetch_id)
        SELECT DISTINCT entity, rid, fid FROM recs ORDER BY 1, 2, 3
        ON CONFLICT DO NOTHING
      ), vr AS (
        -- Each version with what came before it: the stored row, and the slice's earlier versions of the record.
        SELECT x.entity, x.rid, x.fid, x.ord, x.lu, x.md5, x.dc, r.id IS NOT NULL AS stored, r.record_md5 AS stored_md5,
               greatest(r.last_updated, max(x.lu) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) AS lu_before,
               lag(x.md5) OVER w AS md5_before, row_number() OVER w AS n, min(x.fid) OVER (PARTITION BY x.entity, x.rid) AS first_fid
        FROM recs x
        LEFT JOIN qbsync.raw_records r ON r.entity = x.entity AND r.id = x.rid
        WHERE x.versioned
        WINDOW w AS (PARTITION BY x.entity, x.rid ORDER BY x.fid, x.ord)
      ), reps AS (
        -- The versions that replace the stored one, applied one event at a time in id order: the first ever (it inserts
        -- the row); one whose last_updated is newer than every earlier one (or the first to have one); without any
        -- last_updated so far, one whose content differs from the version before it.
        SELECT * FROM vr
        WHERE CASE WHEN n = 1 AND NOT stored THEN true
                   WHEN lu IS NOT NULL THEN lu_before IS NULL OR lu > lu_before
                   ELSE lu_before IS NULL AND md5 IS DISTINCT FROM (CASE WHEN n = 1 THEN stored_md5 ELSE md5_before END) END
      ), fin AS (
        -- Where each record ends: the last replacement, with the last date_created any replacement carried.
        SELECT entity, rid, max(fid) AS fid, min(first_fid) AS first_fid,
               (array_agg(lu ORDER BY fid DESC, ord DESC))[1] AS lu,
               (array_agg(md5 ORDER BY fid DESC, ord DESC))[1] AS md5,
               (array_agg(dc ORDER BY fid DESC, ord DESC) FILTER (WHERE dc IS NOT NULL))[1] AS dc
        FROM reps GROUP BY entity, rid
      ), dels AS (
        SELECT fx.entity, coalesce(qbsync.rr_id(jsonb_build_object('id', d.v)), qbsync.rr_id(d.v)) AS rid, max(fx.fid) AS dmax
        FROM fx
        JOIN raw.page_bodies b ON b.sha256 = fx.body_sha256
        CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(b.body -> 'deleted') = 'array' THEN b.body -> 'deleted' ELSE '[]' END) AS d(v)
        WHERE fx.kind = 'updates' AND fx.fresh
        GROUP BY 1, 2
      ), m AS (
        SELECT coalesce(s.entity, d.entity) AS entity, coalesce(s.rid, d.rid) AS rid, s.lu, s.md5, s.dc, s.fid, s.first_fid, d.dmax
        FROM fin s
        FULL JOIN dels d ON d.entity = s.entity AND d.rid = s.rid
        WHERE coalesce(s.rid, d.rid) IS NOT NULL
      )
      -- A deletion counts when it came at or after the version the record ends on (an Updates answer listing an id in both
      -- updated[] and deleted[] deletes it); a replacement after it un-deletes the record.
      MERGE INTO qbsync.raw_records r
      USING m ON r.entity = m.entity AND r.id = m.rid
      WHEN MATCHED AND m.fid IS NOT NULL THEN
        UPDATE SET last_updated = m.lu, record_md5 = m.md5, date_created = coalesce(m.dc, r.date_created), fetch_id = m.fid,
                   deleted = coalesce(m.dmax >= m.fid, false)
      WHEN MATCHED AND m.dmax IS NOT NULL AND NOT r.deleted THEN
        UPDATE SET deleted = true
      WHEN NOT MATCHED AND m.fid IS NOT NULL THEN
        INSERT (entity, id, last_updated, record_md5, date_created, deleted, first_fetch_id, fetch_id)
        VALUES (m.entity, m.rid, m.lu, m.md5, m.dc, coalesce(m.dmax >= m.fid, false), m.first_fid, m.fid);
    $fn$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  // The previous definition (same results).
  await knex.raw(String.raw`
    CREATE OR REPLACE FUNCTION qbsync.index_raw_slice(lo bigint, hi bigint) RETURNS void
    LANGUAGE sql AS $fn$
      WITH fx AS MATERIALIZED (
        -- The slice's events. "fresh": no earlier event of the entity and kind carried the same body (its records were
        -- applied then; applying them again would change nothing but the rare flip-back of an undated record).
        SELECT f.id AS fid, f.entity, f.kind, f.body_sha256,
               NOT EXISTS (SELECT 1 FROM raw.fetches o
                           WHERE o.body_sha256 = f.body_sha256 AND o.entity = f.entity AND o.kind = f.kind AND o.id < f.id) AS fresh
        FROM raw.fetches f
        WHERE f.id > lo AND f.id <= hi
      ), recs AS MATERIALIZED (
        SELECT fx.entity, fx.fid, r.ord, x.rid, x.versioned,
               CASE WHEN x.versioned THEN qbsync.rr_lu(r.rec) END AS lu,
               CASE WHEN x.versioned AND qbsync.rr_lu(r.rec) IS NULL THEN md5(r.rec::text) END AS md5,
               CASE WHEN x.versioned THEN qbsync.rr_ts(r.rec ->> 'date_created') END AS dc
        FROM fx
        JOIN raw.page_bodies b ON b.sha256 = fx.body_sha256
        CROSS JOIN LATERAL jsonb_array_elements(qbsync.records_of(fx.kind, b.body)) WITH ORDINALITY AS r(rec, ord)
        -- raw_records takes what qbsync.rr_records gives: not the object inside a detail's {"data": {...}} wrapper
        CROSS JOIN LATERAL (SELECT qbsync.rr_id(r.rec) AS rid,
                                   fx.fresh AND NOT (fx.kind = 'detail' AND (b.body -> 'id') IS NULL) AS versioned) AS x
        WHERE jsonb_typeof(r.rec) = 'object' AND x.rid IS NOT NULL
      ), ev AS (
        INSERT INTO qbsync.raw_record_events (entity, id, fetch_id)
        SELECT DISTINCT entity, rid, fid FROM recs
        ON CONFLICT DO NOTHING
      ), vr AS (
        -- Each version with what came before it: the stored row, and the slice's earlier versions of the record.
        SELECT x.entity, x.rid, x.fid, x.ord, x.lu, x.md5, x.dc, r.id IS NOT NULL AS stored, r.record_md5 AS stored_md5,
               greatest(r.last_updated, max(x.lu) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) AS lu_before,
               lag(x.md5) OVER w AS md5_before, row_number() OVER w AS n, min(x.fid) OVER (PARTITION BY x.entity, x.rid) AS first_fid
        FROM recs x
        LEFT JOIN qbsync.raw_records r ON r.entity = x.entity AND r.id = x.rid
        WHERE x.versioned
        WINDOW w AS (PARTITION BY x.entity, x.rid ORDER BY x.fid, x.ord)
      ), reps AS (
        -- The versions that replace the stored one, applied one event at a time in id order: the first ever (it inserts
        -- the row); one whose last_updated is newer than every earlier one (or the first to have one); without any
        -- last_updated so far, one whose content differs from the version before it.
        SELECT * FROM vr
        WHERE CASE WHEN n = 1 AND NOT stored THEN true
                   WHEN lu IS NOT NULL THEN lu_before IS NULL OR lu > lu_before
                   ELSE lu_before IS NULL AND md5 IS DISTINCT FROM (CASE WHEN n = 1 THEN stored_md5 ELSE md5_before END) END
      ), fin AS (
        -- Where each record ends: the last replacement, with the last date_created any replacement carried.
        SELECT entity, rid, max(fid) AS fid, min(first_fid) AS first_fid,
               (array_agg(lu ORDER BY fid DESC, ord DESC))[1] AS lu,
               (array_agg(md5 ORDER BY fid DESC, ord DESC))[1] AS md5,
               (array_agg(dc ORDER BY fid DESC, ord DESC) FILTER (WHERE dc IS NOT NULL))[1] AS dc
        FROM reps GROUP BY entity, rid
      ), dels AS (
        SELECT fx.entity, coalesce(qbsync.rr_id(jsonb_build_object('id', d.v)), qbsync.rr_id(d.v)) AS rid, max(fx.fid) AS dmax
        FROM fx
        JOIN raw.page_bodies b ON b.sha256 = fx.body_sha256
        CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(b.body -> 'deleted') = 'array' THEN b.body -> 'deleted' ELSE '[]' END) AS d(v)
        WHERE fx.kind = 'updates' AND fx.fresh
        GROUP BY 1, 2
      ), m AS (
        SELECT coalesce(s.entity, d.entity) AS entity, coalesce(s.rid, d.rid) AS rid, s.lu, s.md5, s.dc, s.fid, s.first_fid, d.dmax
        FROM fin s
        FULL JOIN dels d ON d.entity = s.entity AND d.rid = s.rid
        WHERE coalesce(s.rid, d.rid) IS NOT NULL
      )
      -- A deletion counts when it came at or after the version the record ends on (an Updates answer listing an id in both
      -- updated[] and deleted[] deletes it); a replacement after it un-deletes the record.
      MERGE INTO qbsync.raw_records r
      USING m ON r.entity = m.entity AND r.id = m.rid
      WHEN MATCHED AND m.fid IS NOT NULL THEN
        UPDATE SET last_updated = m.lu, record_md5 = m.md5, date_created = coalesce(m.dc, r.date_created), fetch_id = m.fid,
                   deleted = coalesce(m.dmax >= m.fid, false)
      WHEN MATCHED AND m.dmax IS NOT NULL AND NOT r.deleted THEN
        UPDATE SET deleted = true
      WHEN NOT MATCHED AND m.fid IS NOT NULL THEN
        INSERT (entity, id, last_updated, record_md5, date_created, deleted, first_fetch_id, fetch_id)
        VALUES (m.entity, m.rid, m.lu, m.md5, m.dc, coalesce(m.dmax >= m.fid, false), m.first_fid, m.fid);
    $fn$;
  `);
}
