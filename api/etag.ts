/**
 * Conditional GET. A response's ETag is a hash of the data version it was computed from, the route, the
 * validated query and the server settings that shape answers (SLA default, timezone); Last-Modified is the
 * data version's time. The version is one index-only lookup, read before the handler runs, so a poll of an
 * unchanged warehouse is answered 304 without running the metric query.
 *
 * Data version:
 * - 'data' (metrics, analytics, entities): the transform watermarks of the live schema (qbench): they move in
 *   the same transaction as the typed rows and rollups they cover; a replay swap moves them too.
 * - 'raw' (entity history): the newest raw.fetches event.
 */
import crypto from 'node:crypto';
import type { Request, Response } from 'express';
import type pg from 'pg';
import type { CacheSource } from './http.js';

export interface DataVersion {
  tag: string;
  modified: Date | null;
}

export async function dataVersion(pool: pg.Pool, source: Exclude<CacheSource, 'none'>): Promise<DataVersion> {
  if (source === 'raw') {
    const { rows } = await pool.query<{ id: number | null; at: Date | null }>(
      `SELECT id, fetched_at AS at FROM raw.fetches ORDER BY id DESC LIMIT 1`,
    );
    return { tag: `r${rows[0]?.id ?? 0}`, modified: rows[0]?.at ?? null };
  }
  const { rows } = await pool.query<{ s: string | null; n: number; at: Date | null; replayed: Date | null }>(
    `SELECT sum(last_fetch_id)::text AS s, count(*)::int AS n, max(updated_at) AS at,
            (SELECT replayed_at FROM qbsync.transform_schemas WHERE schema_name = 'qbench') AS replayed
     FROM qbsync.transform_watermarks WHERE schema_name = 'qbench'`,
  );
  const r = rows[0];
  const at = r.at && r.replayed && r.replayed > r.at ? r.replayed : r.at;
  return { tag: `d${r.s ?? 0}.${r.n}.${r.at?.getTime() ?? 0}.${r.replayed?.getTime() ?? 0}`, modified: at };
}

export function etagFor(version: DataVersion, route: string, query: unknown, settings: unknown): string {
  const h = crypto.createHash('sha256').update(JSON.stringify([version.tag, route, query, settings])).digest('base64url').slice(0, 27);
  return `W/"${h}"`;
}

const opaque = (t: string) => t.trim().replace(/^W\//, '');

/** If-None-Match (weak comparison, lists, *), else If-Modified-Since (second precision). */
export function notModified(req: Request, etag: string, modified: Date | null): boolean {
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    const tags = String(inm).split(',').map((t) => t.trim()).filter(Boolean);
    return tags.includes('*') || tags.some((t) => opaque(t) === opaque(etag));
  }
  const ims = req.headers['if-modified-since'];
  if (ims && modified) {
    const since = Date.parse(String(ims));
    if (!Number.isNaN(since)) return Math.floor(modified.getTime() / 1000) * 1000 <= since;
  }
  return false;
}

export function setCacheHeaders(res: Response, etag: string, modified: Date | null): void {
  res.setHeader('ETag', etag);
  if (modified) res.setHeader('Last-Modified', modified.toUTCString());
  // Authenticated data: caches may keep it but must ask again each time (the ETag makes that cheap).
  res.setHeader('Cache-Control', 'private, no-cache');
}
