/** Reads what landed in raw, independently of the transforms. */
import type pg from 'pg';

/** Distinct record ids per entity found in raw (list pages, details, and updates' objects). */
export async function rawIds(pool: pg.Pool, entity: string): Promise<number[]> {
  const { rows } = await pool.query<{ id: number }>(
    `SELECT DISTINCT (item->>'id')::bigint AS id
     FROM raw.fetches f JOIN raw.page_bodies b ON b.sha256 = f.body_sha256,
     LATERAL jsonb_array_elements(CASE f.kind WHEN 'list' THEN b.body->'data'
                                              WHEN 'detail' THEN jsonb_build_array(b.body)
                                              ELSE coalesce(b.body->'updated', '[]') END) AS item
     WHERE f.entity = $1 AND jsonb_typeof(item) = 'object'
     ORDER BY 1`,
    [entity],
  );
  return rows.map((r) => Number(r.id));
}

/**
 * Full-pass list pages (entity, page number, page size) landed more than once. After one full sync —
 * however often it was killed and resumed — every page must have landed exactly once: a resume that
 * restarted the pass (new pass id, same pages) or re-landed a committed page shows up here.
 */
export async function duplicatePages(pool: pg.Pool): Promise<Array<{ entity: string; page_number: number; n: number }>> {
  const { rows } = await pool.query(
    `SELECT entity, page_number, count(*)::int AS n FROM raw.fetches
     WHERE kind = 'list' AND page_key IS NOT NULL GROUP BY entity, page_number, page_size HAVING count(*) > 1`,
  );
  return rows;
}

export const V1: Record<string, 'customer' | 'order' | 'sample' | 'batch' | 'test' | 'assay' | 'report'> = {
  customers: 'customer', orders: 'order', samples: 'sample', batches: 'batch', tests: 'test', assays: 'assay', reports: 'report',
};
