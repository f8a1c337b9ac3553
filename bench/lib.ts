/** Shared helpers for benchmarks: a private Postgres, a simulator in a child process, memory sampling. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { connect, startEmbeddedPostgres, type Database, type EmbeddedPg } from '../core/index.js';
import pg from 'pg';

/**
 * A private Postgres for a bench (.qbsync/bench-pg, or QBSYNC_BENCH_PG_DIR: benches run by several people on one
 * machine each need their own, since the one that started a server stops it when it ends). `reuse`: keep the
 * database if it exists (the caller skips its landing when `reused` and the data is there).
 */
export async function benchDatabase(name: string, opts: { reuse?: boolean } = {}): Promise<{ db: Database; server: EmbeddedPg; dataDir: string; reused: boolean; drop(): Promise<void> }> {
  const dataDir = path.resolve(process.env.QBSYNC_BENCH_PG_DIR || '.qbsync/bench-pg');
  const server = await startEmbeddedPostgres({ dataDir, database: 'postgres' });
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  // --reuse keeps a database an earlier run of the same bench landed (its landing takes minutes at `large`).
  const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  const reused = Boolean(opts.reuse && exists);
  if (!reused) {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  }
  await admin.end();
  const u = new URL(server.adminUrl);
  u.pathname = `/${name}`;
  const db = await connect(u.toString(), undefined, { poolMax: 10 });
  return {
    db,
    server,
    dataDir,
    reused,
    async drop() {
      await db.knex.destroy();
      await db.pool.end();
      await server.stop();
    },
  };
}

/** Starts `qbsync sim` in a child process (so its CPU and memory are not the measured process's). */
export async function simProcess(args: string[]): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [path.resolve('bin/qbsync.js'), 'sim', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, QBSYNC_LOG_LEVEL: 'warn' },
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`simulator exited (${code}) before listening`)));
  });
  return {
    url,
    child,
    stop: () => new Promise<void>((r) => {
      child.once('exit', () => r());
      child.kill('SIGTERM');
    }),
  };
}

export class RssSampler {
  readonly samples: Array<{ at: number; rssMb: number; label: string }> = [];
  private timer?: NodeJS.Timeout;
  private label = '';
  start(everyMs = 1000): void {
    const t0 = Date.now();
    this.timer = setInterval(() => this.samples.push({ at: Date.now() - t0, rssMb: mb(process.memoryUsage().rss), label: this.label }), everyMs);
    this.timer.unref();
  }
  setLabel(l: string): void {
    this.label = l;
  }
  stop(): void {
    clearInterval(this.timer);
  }
  peak(label?: string): number {
    return Math.max(0, ...this.samples.filter((s) => !label || s.label === label).map((s) => s.rssMb));
  }
}

export const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

export function writeResult(name: string, result: unknown): void {
  const dir = path.resolve('bench/results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(result, null, 2) + '\n');
}

export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

/**
 * CPU seconds used so far by a process and every descendant (live ones, plus those already reaped, which the kernel
 * adds to their parent's cutime/cstime), from /proc. Linux only: elsewhere null. Used to show where a benchmark's
 * CPU goes: the client, the simulator and Postgres share this machine's cores.
 */
export function treeCpuSeconds(rootPid: number): number | null {
  if (process.platform !== 'linux') return null;
  const hz = 100; // USER_HZ: 100 on every Linux architecture Node supports
  const stats = new Map<number, { ppid: number; self: number; reaped: number }>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // Fields after the command name (which may hold spaces and parentheses): state ppid … utime(14) stime cutime cstime.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    stats.set(Number(name), { ppid: Number(f[1]), self: (Number(f[11]) + Number(f[12])) / hz, reaped: (Number(f[13]) + Number(f[14])) / hz });
  }
  if (!stats.has(rootPid)) return null;
  let total = 0;
  const todo = [rootPid];
  while (todo.length) {
    const pid = todo.pop()!;
    const s = stats.get(pid)!;
    total += s.self + s.reaped;
    for (const [child, c] of stats) if (c.ppid === pid) todo.push(child);
  }
  return total;
}

/** CPU seconds of one thread of this process (the main thread's id is the process id), from /proc; null elsewhere. */
function threadCpuSeconds(tid: number): number | null {
  try {
    const text = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

/** The postmaster's pid of a data folder (first line of postmaster.pid), or null. */
export function postmasterPid(dataDir: string): number | null {
  try {
    return Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]) || null;
  } catch {
    return null;
  }
}

/**
 * CPU seconds of the parts of a benchmark between two marks: this process (client and landing code, all its
 * threads), the simulator and Postgres. `total` is what the phase cost the machine.
 */
export class CpuMeter {
  constructor(private readonly pids: { simulator?: number; postgres?: number | null }) {}

  read(): { client: number; client_main_thread: number | null; simulator: number | null; postgres: number | null } {
    const u = process.cpuUsage();
    return {
      client: (u.user + u.system) / 1e6,
      client_main_thread: threadCpuSeconds(process.pid),
      simulator: this.pids.simulator ? treeCpuSeconds(this.pids.simulator) : null,
      postgres: this.pids.postgres ? treeCpuSeconds(this.pids.postgres) : null,
    };
  }

  /** `client` counts all of this process's threads (GC, libuv pool); `client_main_thread` the JavaScript thread alone. */
  since(start: ReturnType<CpuMeter['read']>): { client: number; client_main_thread: number | null; simulator: number | null; postgres: number | null; total: number } {
    const now = this.read();
    const d = (a: number | null, b: number | null) => (a === null || b === null ? null : +(a - b).toFixed(2));
    const out = {
      client: +(now.client - start.client).toFixed(2), client_main_thread: d(now.client_main_thread, start.client_main_thread),
      simulator: d(now.simulator, start.simulator), postgres: d(now.postgres, start.postgres),
    };
    return { ...out, total: +(out.client + (out.simulator ?? 0) + (out.postgres ?? 0)).toFixed(2) };
  }
}
