/**
 * `qbsync backup` / `qbsync restore`: qbsync's data (schemas raw, qbsync, qbench, pgboss and the knex migrations
 * table) to one file and back, in Node (no pg_dump: the embedded server is PostgreSQL 18 and Debian's pg_dump is
 * 15, which refuses to dump a newer server).
 *
 * Backup: one REPEATABLE READ, READ ONLY transaction (a consistent snapshot; syncs and the API go on), every
 * table `COPY … TO STDOUT` in foreign-key order into the framed, gzip'd file of ops/backup-format.ts, the
 * sequences' values, and a trailer with per-table row counts and SHA-256. Written to `<file>.partial` and renamed
 * at the end, so a file that exists is complete.
 *
 * Restore, into an EMPTY database only:
 *   1. the schema comes from the migrations: the database is migrated to exactly the migrations the backup lists
 *      (they must be this qbsync's first migrations: a backup made by a newer qbsync is refused), and pg-boss's
 *      schema is created from pg-boss's own construction SQL (when its schema version matches the backup's;
 *      otherwise the jobs tables are skipped, with a warning);
 *   2. the data is loaded in ONE transaction with `COPY … FROM STDIN` (an INSERT: the raw immutability triggers
 *      allow it; the trigger that derives qbsync.raw_records from new raw events is disabled for the load only,
 *      since that table is restored as it was), every table's row count and SHA-256 checked against the file,
 *      the sequences set; any mismatch rolls everything back;
 *   3. migrations newer than the backup are applied; the tables analysed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import PgBoss from 'pg-boss';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { QbsyncError, type Database, type Logger } from '../core/index.js';
import {
  FORMAT_VERSION, MAGIC, MAX_FRAME, FrameReader, TableDigest, BackupFormatError, frame,
  type BackupHeader, type BackupTrailer, type SequenceValue, type TableInfo, type TableSummary,
} from './backup-format.js';

const require = createRequire(import.meta.url);
const pkg = require('../package.json') as { version: string };
const PGBOSS_SCHEMA_VERSION = (require('pg-boss/version.json') as { schema: number }).schema;

export const BACKUP_SCHEMAS = ['raw', 'qbsync', 'qbench', 'pgboss'] as const;
const SCHEMA_ORDER: Record<string, number> = { public: 0, raw: 1, qbsync: 2, qbench: 3, pgboss: 4 };
/** Derived from raw events by a trigger; restored from the file instead of re-derived during the load. */
const DERIVED_TRIGGERS = [{ table: 'raw.fetches', trigger: 'fetches_track_records' }];

const qi = (name: string) => `"${name.replace(/"/g, '""')}"`;
const qname = (t: { schema: string; name: string }) => `${qi(t.schema)}.${qi(t.name)}`;

// ------------------------------------------------------------------------------------------ backup

export interface BackupResult {
  file: string;
  bytes: number;
  tables: TableSummary[];
  migrations: string[];
  durationMs: number;
}

/** Tables of qbsync's schemas (and knex's migrations table), parents before the tables that reference them. */
async function listTables(c: pg.PoolClient): Promise<TableInfo[]> {
  const { rows } = await c.query<{ oid: number; schema: string; name: string; kind: 'r' | 'p' }>(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND (n.nspname = ANY($1) OR (n.nspname = 'public' AND c.relname = 'knex_migrations'))`,
    [[...BACKUP_SCHEMAS]],
  );
  const { rows: cols } = await c.query<{ oid: number; col: string }>(
    `SELECT a.attrelid::int AS oid, a.attname AS col FROM pg_attribute a
     WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
     ORDER BY a.attrelid, a.attnum`,
    [rows.map((r) => r.oid)],
  );
  // Foreign keys, with partitions counted as their parent (pg-boss puts its job → queue keys on the partitions).
  const { rows: fks } = await c.query<{ child: number; parent: number }>(
    `SELECT coalesce(pc.inhparent, k.conrelid)::int AS child, coalesce(pp.inhparent, k.confrelid)::int AS parent
     FROM pg_constraint k
     LEFT JOIN pg_inherits pc ON pc.inhrelid = k.conrelid
     LEFT JOIN pg_inherits pp ON pp.inhrelid = k.confrelid
     WHERE k.contype = 'f'`,
  );
  const byOid = new Map(rows.map((r) => [r.oid, r]));
  const deps = new Map<number, Set<number>>(rows.map((r) => [r.oid, new Set<number>()]));
  for (const fk of fks) if (fk.child !== fk.parent && byOid.has(fk.child) && byOid.has(fk.parent)) deps.get(fk.child)!.add(fk.parent);
  const key = (r: { schema: string; name: string }) => `${String(SCHEMA_ORDER[r.schema] ?? 9)}/${r.schema}.${r.name}`;
  const pending = [...rows].sort((a, b) => key(a).localeCompare(key(b)));
  const done = new Set<number>();
  const out: TableInfo[] = [];
  while (pending.length) {
    const i = pending.findIndex((r) => [...deps.get(r.oid)!].every((d) => done.has(d)));
    const r = pending.splice(i === -1 ? 0 : i, 1)[0]; // a cycle (none today) falls back to name order
    done.add(r.oid);
    out.push({ schema: r.schema, name: r.name, kind: r.kind, columns: cols.filter((x) => x.oid === r.oid).map((x) => x.col) });
  }
  return out;
}

async function listSequences(c: pg.PoolClient): Promise<SequenceValue[]> {
  const { rows } = await c.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'S' AND (n.nspname = ANY($1) OR (n.nspname = 'public' AND c.relname LIKE 'knex\\_migrations%'))
     ORDER BY 1, 2`,
    [[...BACKUP_SCHEMAS]],
  );
  const out: SequenceValue[] = [];
  for (const s of rows) {
    const { rows: [v] } = await c.query<{ last_value: string; is_called: boolean }>(`SELECT last_value::text AS last_value, is_called FROM ${qname(s)}`);
    out.push({ ...s, ...v });
  }
  return out;
}

export async function backupDatabase(db: Database, opts: { out: string; logger?: Logger; overwrite?: boolean }): Promise<BackupResult> {
  const started = Date.now();
  const file = path.resolve(opts.out);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new QbsyncError(`${file} is a directory: give the backup a file name`, 2);
  if (fs.existsSync(file) && !opts.overwrite) throw new QbsyncError(`${file} exists: choose another name or pass --force`, 2);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const partial = `${file}.partial`;
  const client = await db.pool.connect();
  const summaries: TableSummary[] = [];
  let migrations: string[] = [];
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const tables = await listTables(client);
    if (!tables.some((t) => t.schema === 'raw')) throw new QbsyncError('this database has no qbsync data (schema raw is missing): nothing to back up');
    const hasMigrations = tables.some((t) => t.schema === 'public' && t.name === 'knex_migrations');
    migrations = hasMigrations ? (await client.query<{ name: string }>(`SELECT name FROM public.knex_migrations ORDER BY id`)).rows.map((r) => r.name) : [];
    const pgbossVersion = tables.some((t) => t.schema === 'pgboss' && t.name === 'version')
      ? Number((await client.query<{ version: number }>(`SELECT max(version) AS version FROM pgboss.version`)).rows[0]?.version ?? 0) || null
      : null;
    const { rows: [info] } = await client.query<{ v: string; d: string }>(`SELECT current_setting('server_version') AS v, current_database() AS d`);
    const header: BackupHeader = {
      format: 'qbsync-backup', format_version: FORMAT_VERSION, qbsync_version: pkg.version, created_at: new Date().toISOString(),
      server_version: info.v, database: info.d, migrations, pgboss_schema_version: pgbossVersion, tables,
    };
    opts.logger?.info(`backup: ${tables.length} tables from ${info.d} (PostgreSQL ${info.v}) to ${file}`);

    async function* frames(): AsyncGenerator<Buffer> {
      yield MAGIC;
      yield frame('H', header);
      for (const t of tables) {
        yield frame('T', { schema: t.schema, name: t.name, columns: t.columns });
        const cols = t.columns.map(qi).join(', ');
        const sql = t.kind === 'p' ? `COPY (SELECT ${cols} FROM ${qname(t)}) TO STDOUT` : `COPY ${qname(t)} (${cols}) TO STDOUT`;
        const digest = new TableDigest();
        const stream = client.query(copyTo(sql));
        let pending: Buffer[] = [];
        let size = 0;
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          digest.update(chunk);
          pending.push(chunk);
          size += chunk.length;
          if (size >= MAX_FRAME / 4) {
            yield frame('D', Buffer.concat(pending, size));
            pending = [];
            size = 0;
          }
        }
        if (size) yield frame('D', Buffer.concat(pending, size));
        const s: TableSummary = { schema: t.schema, name: t.name, rows: digest.rows, bytes: digest.bytes, sha256: digest.digest() };
        summaries.push(s);
        yield frame('E', { rows: s.rows, bytes: s.bytes, sha256: s.sha256 });
      }
      yield frame('S', await listSequences(client));
      const trailer: BackupTrailer = { tables: summaries, finished_at: new Date().toISOString(), duration_ms: Date.now() - started };
      yield frame('Z', trailer);
    }

    await pipeline(Readable.from(frames()), zlib.createGzip({ level: 6 }), fs.createWriteStream(partial, { mode: 0o600 }));
    await client.query('COMMIT');
    fs.renameSync(partial, file);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    fs.rmSync(partial, { force: true });
    throw err;
  } finally {
    client.release();
  }
  const bytes = fs.statSync(file).size;
  const result: BackupResult = { file, bytes, tables: summaries, migrations, durationMs: Date.now() - started };
  opts.logger?.info(`backup written: ${file} (${bytes} bytes, ${summaries.reduce((a, t) => a + t.rows, 0)} rows in ${summaries.length} tables)`, {
    duration_ms: result.durationMs,
  });
  return result;
}

// ------------------------------------------------------------------------------------------ reading

function openReader(file: string): FrameReader {
  if (!fs.existsSync(file)) throw new QbsyncError(`${file} does not exist`, 2);
  if (fs.statSync(file).isDirectory()) throw new QbsyncError(`${file} is a directory, not a backup file`, 2);
  const gunzip = zlib.createGunzip();
  const src = fs.createReadStream(file);
  src.on('error', (err) => gunzip.destroy(err));
  src.pipe(gunzip);
  return new FrameReader(gunzip);
}

function wrapFormatError(file: string, err: unknown): never {
  if (err instanceof BackupFormatError) throw new QbsyncError(`${file}: ${err.message}`);
  if (err instanceof Error && /incorrect header check|unexpected end of file|invalid (block|distance|stored)/i.test(err.message)) {
    throw new QbsyncError(`${file}: not a qbsync backup file, or it is damaged (${err.message})`);
  }
  throw err;
}

export interface CheckResult {
  header: BackupHeader;
  tables: TableSummary[];
  sequences: SequenceValue[];
  trailer: BackupTrailer;
}

/** Reads the whole file and checks every table's rows and SHA-256 against its end frame and the trailer. No database. */
export async function checkBackupFile(file: string): Promise<CheckResult> {
  try {
    const r = openReader(file);
    await r.readMagic();
    const header = await r.expect<BackupHeader>('H');
    if (header.format_version > FORMAT_VERSION) throw new BackupFormatError(`format version ${header.format_version} is newer than this qbsync reads (${FORMAT_VERSION})`);
    const tables: TableSummary[] = [];
    let sequences: SequenceValue[] = [];
    for (;;) {
      const f = await r.next();
      if (!f) throw new BackupFormatError('backup file is truncated (no trailer)');
      if (f.type === 'Z') {
        const trailer = JSON.parse(f.payload.toString('utf8')) as BackupTrailer;
        compareTrailer(trailer, tables);
        return { header, tables, sequences, trailer };
      }
      if (f.type === 'S') {
        sequences = JSON.parse(f.payload.toString('utf8')) as SequenceValue[];
        continue;
      }
      if (f.type !== 'T') throw new BackupFormatError(`backup file is corrupt (unexpected ${f.type} frame)`);
      const t = JSON.parse(f.payload.toString('utf8')) as TableInfo;
      const digest = new TableDigest();
      for (;;) {
        const d = await r.next();
        if (!d) throw new BackupFormatError(`backup file is truncated (inside ${t.schema}.${t.name})`);
        if (d.type === 'D') {
          digest.update(d.payload);
          continue;
        }
        if (d.type !== 'E') throw new BackupFormatError(`backup file is corrupt (unexpected ${d.type} frame in ${t.schema}.${t.name})`);
        const end = JSON.parse(d.payload.toString('utf8')) as Omit<TableSummary, 'schema' | 'name'>;
        const s = { schema: t.schema, name: t.name, rows: digest.rows, bytes: digest.bytes, sha256: digest.digest() };
        if (s.rows !== end.rows || s.sha256 !== end.sha256) throw new BackupFormatError(`${t.schema}.${t.name}: data does not match its checksum`);
        tables.push(s);
        break;
      }
    }
  } catch (err) {
    wrapFormatError(file, err);
  }
}

function compareTrailer(trailer: BackupTrailer, tables: TableSummary[]): void {
  const got = new Map(tables.map((t) => [`${t.schema}.${t.name}`, t]));
  for (const t of trailer.tables) {
    const g = got.get(`${t.schema}.${t.name}`);
    if (!g || g.rows !== t.rows || g.sha256 !== t.sha256) throw new BackupFormatError(`${t.schema}.${t.name}: data does not match the trailer`);
  }
  if (trailer.tables.length !== tables.length) throw new BackupFormatError('the trailer does not list every table');
}

// ------------------------------------------------------------------------------------------ restore

export interface RestoreResult {
  file: string;
  tables: TableSummary[];
  skipped: string[];
  migrationsFromBackup: string[];
  migrationsAppliedAfter: string[];
  sequences: number;
  durationMs: number;
  warnings: string[];
}

/** Tables (or knex's migrations table) already present: the database is not empty. */
async function existingObjects(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ t: string }>(
    `SELECT n.nspname || '.' || c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND (n.nspname = ANY($1) OR (n.nspname = 'public' AND c.relname LIKE 'knex\\_migrations%'))
     ORDER BY 1 LIMIT 5`,
    [[...BACKUP_SCHEMAS]],
  );
  return rows.map((r) => r.t);
}

async function migrateTo(db: Database, wanted: string[], logger?: Logger): Promise<void> {
  const [, pending] = (await db.knex.migrate.list()) as [unknown[], Array<{ file: string } | string>];
  const local = pending.map((p) => (typeof p === 'string' ? p : p.file));
  const unknown = wanted.filter((m) => !local.includes(m));
  if (unknown.length) {
    throw new QbsyncError(`the backup was made by a newer qbsync: migrations ${unknown.join(', ')} are not in this version; restore with that version or newer`);
  }
  const prefix = local.slice(0, wanted.length);
  if (prefix.join('\n') !== wanted.join('\n')) {
    throw new QbsyncError(`the backup's migrations are not the first ${wanted.length} migrations of this qbsync (backup: ${wanted.join(', ')}); restore with the qbsync version that made it`);
  }
  for (let i = 0; i < wanted.length; i++) await db.knex.migrate.up();
  logger?.info(`restore: schema created from ${wanted.length} migrations`);
}

export async function restoreDatabase(db: Database, opts: { in: string; logger?: Logger }): Promise<RestoreResult> {
  const started = Date.now();
  const file = path.resolve(opts.in);
  const log = opts.logger;
  const warnings: string[] = [];
  let reader: FrameReader;
  let header: BackupHeader;
  try {
    reader = openReader(file);
    await reader.readMagic();
    header = await reader.expect<BackupHeader>('H');
  } catch (err) {
    wrapFormatError(file, err);
  }
  if (header.format_version > FORMAT_VERSION) throw new QbsyncError(`${file}: format version ${header.format_version} is newer than this qbsync reads`);
  const present = await existingObjects(db.pool);
  if (present.length) {
    throw new QbsyncError(
      `the target database is not empty (it has ${present.join(', ')}${present.length === 5 ? ', …' : ''}): restore only into an empty database ` +
        `(create one, e.g. \`createdb qbsync_restored\`, and point DATABASE_URL at it)`,
    );
  }
  log?.info(`restore: ${file} (qbsync ${header.qbsync_version}, PostgreSQL ${header.server_version}, made ${header.created_at}) into an empty database`);

  // 1. Schema: the backup's migrations, and pg-boss's own construction SQL.
  await migrateTo(db, header.migrations, log);
  const hasPgboss = header.tables.some((t) => t.schema === 'pgboss');
  let pgbossOk = false;
  if (hasPgboss) {
    if (header.pgboss_schema_version === PGBOSS_SCHEMA_VERSION) {
      await db.pool.query(PgBoss.getConstructionPlans('pgboss'));
      pgbossOk = true;
    } else {
      warnings.push(
        `the job queue tables (pgboss) were not restored: the backup has pg-boss schema version ${header.pgboss_schema_version}, this qbsync ${PGBOSS_SCHEMA_VERSION}; ` +
          'queued jobs are lost (syncs resume from their checkpoints) and a schedule must be set again with `qbsync schedule set`',
      );
    }
  }

  // 2. Data, in one transaction.
  const client = await db.pool.connect();
  const loaded: TableSummary[] = [];
  const skipped: string[] = [];
  let sequences: SequenceValue[] = [];
  try {
    await client.query('BEGIN');
    for (const t of DERIVED_TRIGGERS) {
      const { rows } = await client.query(`SELECT 1 FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = $2`, [t.table, t.trigger]);
      if (rows.length) await client.query(`ALTER TABLE ${t.table} DISABLE TRIGGER ${qi(t.trigger)}`);
    }
    let trailer: BackupTrailer | undefined;
    for (;;) {
      const f = await reader.next();
      if (!f) throw new BackupFormatError('backup file is truncated (no trailer)');
      if (f.type === 'Z') {
        trailer = JSON.parse(f.payload.toString('utf8')) as BackupTrailer;
        break;
      }
      if (f.type === 'S') {
        sequences = JSON.parse(f.payload.toString('utf8')) as SequenceValue[];
        continue;
      }
      if (f.type !== 'T') throw new BackupFormatError(`backup file is corrupt (unexpected ${f.type} frame)`);
      const t = JSON.parse(f.payload.toString('utf8')) as TableInfo;
      const skip = t.schema === 'pgboss' && !pgbossOk;
      const s = await loadTable(client, reader, t, skip);
      if (skip) skipped.push(`${t.schema}.${t.name}`);
      else {
        loaded.push(s);
        log?.debug(`restore: ${t.schema}.${t.name} ${s.rows} rows`);
      }
    }
    compareTrailer({ ...trailer, tables: trailer.tables.filter((t) => !skipped.includes(`${t.schema}.${t.name}`)) }, loaded);
    for (const s of sequences) {
      if (s.schema === 'pgboss' && !pgbossOk) continue;
      await client.query(`SELECT setval($1::regclass, $2::bigint, $3)`, [qname(s), s.last_value, s.is_called]);
    }
    for (const t of DERIVED_TRIGGERS) {
      const { rows } = await client.query(`SELECT 1 FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = $2`, [t.table, t.trigger]);
      if (rows.length) await client.query(`ALTER TABLE ${t.table} ENABLE TRIGGER ${qi(t.trigger)}`);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    const msg = err instanceof BackupFormatError ? `${file}: ${err.message}` : err instanceof Error ? err.message : String(err);
    throw new QbsyncError(
      `restore failed, no data was loaded: ${msg}. The database now holds the empty schema: drop and re-create it before trying again`,
    );
  } finally {
    client.release();
  }

  // 3. Newer migrations, statistics.
  const [, applied] = (await db.knex.migrate.latest()) as [number, string[]];
  if (applied.length) log?.info(`restore: applied ${applied.length} migration(s) newer than the backup`, { migrations: applied });
  await db.pool.query('ANALYZE');
  for (const w of warnings) log?.warn(`restore: ${w}`);
  const result: RestoreResult = {
    file, tables: loaded, skipped, migrationsFromBackup: header.migrations, migrationsAppliedAfter: applied, sequences: sequences.length,
    durationMs: Date.now() - started, warnings,
  };
  log?.info(`restore finished: ${loaded.length} tables, ${loaded.reduce((a, t) => a + t.rows, 0)} rows in ${result.durationMs} ms`);
  return result;
}

/** Loads (or skips) one table's D frames up to its E frame; checks rows and SHA-256. */
async function loadTable(client: pg.PoolClient, reader: FrameReader, t: TableInfo, skip: boolean): Promise<TableSummary> {
  const digest = new TableDigest();
  const exists = skip
    ? false
    : (await client.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [qname(t)])).rows[0].ok;
  if (!skip && !exists) throw new QbsyncError(`table ${t.schema}.${t.name} from the backup does not exist after the migrations`);

  let target = qname(t);
  if (!skip) {
    if (t.schema === 'public' && t.name === 'knex_migrations') await client.query(`DELETE FROM public.knex_migrations`);
    if (t.schema === 'pgboss' && t.name === 'version') await client.query(`DELETE FROM pgboss.version`);
    if (t.schema === 'pgboss' && t.name === 'queue') {
      // Queues are created through pg-boss's create_queue (it makes each queue's job partition), then given
      // the backup's values.
      await client.query(`CREATE TEMP TABLE restore_queue (LIKE pgboss.queue) ON COMMIT DROP`);
      target = 'restore_queue';
    }
  }
  let copy: ReturnType<typeof copyFrom> | undefined;
  let done: Promise<void> | undefined;
  if (!skip) {
    copy = client.query(copyFrom(`COPY ${target} (${t.columns.map(qi).join(', ')}) FROM STDIN`));
    done = finished(copy);
    done.catch(() => undefined);
  }
  for (;;) {
    const f = await reader.next();
    if (!f) throw new BackupFormatError(`backup file is truncated (inside ${t.schema}.${t.name})`);
    if (f.type === 'D') {
      digest.update(f.payload);
      if (copy && !copy.write(f.payload)) await Promise.race([once(copy, 'drain'), done]);
      continue;
    }
    if (f.type !== 'E') throw new BackupFormatError(`backup file is corrupt (unexpected ${f.type} frame in ${t.schema}.${t.name})`);
    const end = JSON.parse(f.payload.toString('utf8')) as Omit<TableSummary, 'schema' | 'name'>;
    if (copy) {
      copy.end();
      await done;
    }
    const s: TableSummary = { schema: t.schema, name: t.name, rows: digest.rows, bytes: digest.bytes, sha256: digest.digest() };
    if (s.rows !== end.rows || s.sha256 !== end.sha256) throw new BackupFormatError(`${t.schema}.${t.name}: data does not match its checksum`);
    if (copy && copy.rowCount !== s.rows) throw new QbsyncError(`${t.schema}.${t.name}: loaded ${copy.rowCount} rows, the backup has ${s.rows}`);
    if (!skip && target === 'restore_queue') {
      await client.query(`
        SELECT pgboss.create_queue(name, json_build_object('policy', policy, 'retryLimit', retry_limit, 'retryDelay', retry_delay,
                 'retryBackoff', retry_backoff, 'expireInSeconds', expire_seconds, 'retentionMinutes', retention_minutes))
        FROM restore_queue ORDER BY name`);
      const cols = t.columns.filter((c) => c !== 'name');
      await client.query(
        `UPDATE pgboss.queue q SET (${cols.map(qi).join(', ')}) = (${cols.map((c) => `r.${qi(c)}`).join(', ')}) FROM restore_queue r WHERE r.name = q.name`,
      );
    }
    return s;
  }
}
