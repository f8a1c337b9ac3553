/**
 * The one Postgres: DATABASE_URL when set, otherwise the embedded server under QBSYNC_DATA_DIR/pg.
 * Gives a pg Pool (hot paths, plain parameterised SQL) and a knex instance (migrations, simple queries)
 * over the same connection settings, and runs migrations at open unless told not to.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import type { Config } from './config.js';
import { startEmbeddedPostgres, type EmbeddedPg } from './embedded-pg.js';
import { QbsyncError, errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import { redactString, registerSecret } from './redact.js';

// Counts and ids come back as JS numbers: every id QBench issues and every count we keep fits in 2^53.
pg.types.setTypeParser(20, (v) => Number(v)); // int8
pg.types.setTypeParser(1700, (v) => Number(v)); // numeric
// bigint[] (batch_ids, test_ids…) likewise: set here, once for every process, so no module that happens to
// be loaded changes what a query returns.
const int8Array = pg.types.getTypeParser(1016 as never) as (v: string) => Array<string | null>;
pg.types.setTypeParser(1016 as never, (v: string) => int8Array(v).map((x) => (x === null ? null : Number(x))));

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

export interface Database {
  url: string;
  pool: pg.Pool;
  knex: Knex;
  embedded?: EmbeddedPg;
  close(): Promise<void>;
}

export function migrationConfig(): Knex.MigratorConfig {
  return { directory: MIGRATIONS_DIR, loadExtensions: ['.ts'], tableName: 'knex_migrations', schemaName: 'public' };
}

export function createKnex(url: string, poolMax = 4): Knex {
  return knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: poolMax }, migrations: migrationConfig() });
}

function describeTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return 'DATABASE_URL';
  }
}

export interface OpenOptions {
  migrate?: boolean;
  poolMax?: number;
  /** Application name shown in pg_stat_activity. */
  appName?: string;
}

/** Resolves the database URL: DATABASE_URL, or the embedded server (started when needed). */
export async function resolveDatabaseUrl(config: Config, logger?: Logger): Promise<{ url: string; embedded?: EmbeddedPg }> {
  if (config.databaseUrl) {
    try {
      registerSecret(decodeURIComponent(new URL(config.databaseUrl).password));
    } catch {
      /* validated by config */
    }
    return { url: config.databaseUrl };
  }
  const embedded = await startEmbeddedPostgres({ dataDir: path.join(config.dataDir, 'pg'), port: config.pgPort, logger });
  return { url: embedded.url, embedded };
}

export async function openDatabase(config: Config, logger?: Logger, opts: OpenOptions = {}): Promise<Database> {
  const { url, embedded } = await resolveDatabaseUrl(config, logger);
  return connect(url, logger, { ...opts, embedded });
}

/**
 * pg-pool listens for errors only on idle clients: a client that is checked out (a lock held for a whole run,
 * a transaction between two statements) and loses its connection — Postgres restarted or stopped — emits
 * 'error' with no listener, which kills the process with a stack trace. Give every client of the pool a
 * listener for its lifetime: the loss is logged, and the next query on that client fails (and is handled
 * like any other database error) instead.
 */
export function guardCheckedOutClients(pool: pg.Pool, logger?: Logger): void {
  pool.on('connect', (client) => {
    client.on('error', (err) => logger?.debug('database connection lost', { error: redactString(err.message) }));
  });
}

export async function connect(url: string, logger?: Logger, opts: OpenOptions & { embedded?: EmbeddedPg } = {}): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: opts.poolMax ?? 10, application_name: opts.appName ?? 'qbsync', connectionTimeoutMillis: 10_000 });
  // An idle client losing its connection (Postgres restarted) must not crash the process; the pool replaces it.
  pool.on('error', (err) => logger?.warn('idle database connection lost', { error: redactString(err.message) }));
  guardCheckedOutClients(pool, logger);
  try {
    const c = await pool.connect();
    c.release();
  } catch (err) {
    await pool.end().catch(() => undefined);
    await opts.embedded?.stop().catch(() => undefined);
    throw new QbsyncError(`Cannot connect to PostgreSQL at ${describeTarget(url)}: ${redactString(errorMessage(err))}`);
  }
  const knex = createKnex(url, Math.max(2, Math.floor((opts.poolMax ?? 10) / 2)));
  const db: Database = {
    url,
    pool,
    knex,
    embedded: opts.embedded,
    async close() {
      await knex.destroy().catch(() => undefined);
      await pool.end().catch(() => undefined);
      await opts.embedded?.stop();
    },
  };
  if (opts.migrate !== false) {
    try {
      await migrate(knex, logger);
    } catch (err) {
      await db.close();
      throw err;
    }
  }
  return db;
}

/** Applies pending migrations; serialised across processes by knex's migration lock. */
export async function migrate(knex: Knex, logger?: Logger): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest()) as [number, string[]];
  if (applied.length) logger?.info('applied migrations', { migrations: applied });
  return applied;
}

/** Names of migrations not yet applied (for /api/ready and `qbsync doctor`). */
export async function pendingMigrations(knex: Knex): Promise<string[]> {
  const [, pending] = (await knex.migrate.list()) as [unknown[], Array<{ file: string } | string>];
  return pending.map((p) => (typeof p === 'string' ? p : p.file));
}
