/** Shared bits of the ops suites: syncing a simulator into a test database, and checksums of every qbsync table. */
import type pg from 'pg';
import { makeClient, runSync, MemoryRateBudget, type EntityName, type SyncOutcome } from '../../ingest/index.js';
import { runTransforms } from '../../transform/index.js';
import type { Simulator } from '../../sim/index.js';
import type { TestDatabase } from '../helpers/pg.js';
import { capture, FAST, testConfig } from '../helpers/jobs.js';

export { capture, FAST, testConfig };

export const ALL: EntityName[] = ['customers', 'orders', 'samples', 'batches', 'tests', 'assays', 'reports'];

/** A sync of every entity (then the transforms), with fast retries and no rate budget. */
export async function syncAndTransform(
  db: TestDatabase, sim: Simulator, opts: { mode?: 'full' | 'incremental'; pageSize?: number; transform?: boolean } = {},
): Promise<SyncOutcome> {
  const logger = capture().logger;
  const config = testConfig();
  const out = await runSync(
    {
      db, logger, pageSize: opts.pageSize,
      makeClient: (onEvent) => makeClient(config, { baseUrl: sim.url, logger, onEvent, rateBudget: new MemoryRateBudget({ limit: 1e6, windowMs: 1000 }), overrides: FAST }),
    },
    { mode: opts.mode ?? 'full', entities: ALL, pageSize: opts.pageSize },
  );
  if (opts.transform !== false) await runTransforms(db, { logger });
  return out;
}

/** Row count and md5 over every row (as text, sorted) of every table of qbsync's schemas and knex's migrations table. */
export async function allTableChecksums(pool: pg.Pool): Promise<Record<string, { rows: number; md5: string }>> {
  const { rows: tables } = await pool.query<{ t: string }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND (n.nspname IN ('raw', 'qbsync', 'qbench', 'pgboss') OR (n.nspname = 'public' AND c.relname = 'knex_migrations'))
     ORDER BY 1`,
  );
  const out: Record<string, { rows: number; md5: string }> = {};
  for (const { t } of tables) {
    const { rows: [r] } = await pool.query<{ rows: number; md5: string }>(
      `SELECT count(*)::int AS rows, md5(coalesce(string_agg(x.t, '|' ORDER BY x.t), '')) AS md5 FROM (SELECT r::text AS t FROM ${t} r) x`,
    );
    out[t] = r;
  }
  return out;
}

export async function sequenceValues(pool: pg.Pool): Promise<Record<string, string>> {
  const { rows } = await pool.query<{ s: string }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS s FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'S' AND n.nspname IN ('raw', 'qbsync', 'qbench', 'pgboss') ORDER BY 1`,
  );
  const out: Record<string, string> = {};
  for (const { s } of rows) out[s] = (await pool.query(`SELECT last_value::text || '/' || is_called AS v FROM ${s}`)).rows[0].v;
  return out;
}
