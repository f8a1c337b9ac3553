/**
 * Test databases: one embedded PostgreSQL for the whole mocha run (its own folder under
 * .qbsync/test-pg/, durability off for speed, removed at the end, so parallel runs never share a
 * server), a template database migrated once, and a fresh `CREATE DATABASE … TEMPLATE` per test file
 * or test, dropped afterwards. Set QBSYNC_TEST_DATABASE_URL (an admin URL of a server whose databases
 * the tests may create and drop) to use another server instead.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { connect, createKnex, migrate, startEmbeddedPostgres, type Database, type EmbeddedPg } from '../../core/index.js';

export const TEMPLATE_DB = `qbsync_test_template_${process.pid}`;
let embedded: EmbeddedPg | undefined;
let serverDir: string | undefined;

export function adminUrl(): string {
  const url = process.env.QBSYNC_TEST_ADMIN_URL;
  if (!url) throw new Error('test database server not started (test/setup.ts did not run)');
  return url;
}

export function urlFor(database: string): string {
  const u = new URL(adminUrl());
  u.pathname = `/${database}`;
  return u.toString();
}

async function adminQuery(sql: string, params: unknown[] = []): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl() });
  await c.connect();
  try {
    await c.query(sql, params);
  } finally {
    await c.end();
  }
}

/**
 * Servers left by test runs that were killed: stop them and remove their folders. `folder` matches the name of a
 * run's folder under `root`, its first group being the pid of the process that made it (reaped once that is gone).
 */
export function reapAbandonedServers(root: string, folder: RegExp): void {
  if (!fs.existsSync(root)) return;
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (const name of fs.readdirSync(root)) {
    const m = folder.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    const pidFile = path.join(root, name, 'data', 'postmaster.pid');
    if (fs.existsSync(pidFile)) {
      const pgPid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
      if (pgPid && alive(pgPid)) process.kill(pgPid, 'SIGQUIT');
    }
    fs.rmSync(path.join(root, name), { recursive: true, force: true });
  }
}

export async function startTestServer(): Promise<void> {
  if (process.env.QBSYNC_TEST_DATABASE_URL) {
    process.env.QBSYNC_TEST_ADMIN_URL = process.env.QBSYNC_TEST_DATABASE_URL;
  } else {
    reapAbandonedServers(path.resolve('.qbsync/test-pg'), /^(\d+)$/);
    serverDir = path.resolve('.qbsync/test-pg', String(process.pid));
    fs.rmSync(serverDir, { recursive: true, force: true });
    embedded = await startEmbeddedPostgres({ dataDir: path.join(serverDir, 'data'), database: 'postgres', fast: true });
    process.env.QBSYNC_TEST_ADMIN_URL = embedded.adminUrl;
  }
  // Rebuild the template each run so it always reflects the current migrations.
  await adminQuery(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
  await adminQuery(`CREATE DATABASE ${TEMPLATE_DB}`);
  const knex = createKnex(urlFor(TEMPLATE_DB), 2);
  try {
    await migrate(knex);
  } finally {
    await knex.destroy();
  }
}

export async function stopTestServer(): Promise<void> {
  if (embedded) {
    await embedded.stop();
    if (!process.env.QBSYNC_KEEP_TEST_DB && serverDir) fs.rmSync(serverDir, { recursive: true, force: true });
  } else {
    await adminQuery(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`).catch(() => undefined);
  }
}

export interface TestDatabase extends Database {
  name: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database (copied from the template): cheap, isolated, dropped by `drop()`. */
export async function createTestDatabase(opts: { empty?: boolean } = {}): Promise<TestDatabase> {
  const name = `qbsync_test_${crypto.randomBytes(5).toString('hex')}`;
  await adminQuery(opts.empty ? `CREATE DATABASE ${name}` : `CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DB}`);
  const db = await connect(urlFor(name), undefined, { migrate: false, poolMax: 6 });
  return Object.assign(db, {
    name,
    async drop() {
      await db.close();
      if (!process.env.QBSYNC_KEEP_TEST_DB) await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  });
}
