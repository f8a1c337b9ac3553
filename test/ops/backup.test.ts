import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { expect } from 'chai';
import { QUEUES, startBoss } from '../../core/boss.js';
import { setSyncSchedule } from '../../jobs/index.js';
import { startApiServer, createApiToken, type ApiServer } from '../../api/index.js';
import { tableChecksums } from '../../transform/index.js';
import { checkBackupFile } from '../../ops/index.js';
import type { Simulator } from '../../sim/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator, cliEnv } from '../helpers/sim.js';
import { runCli } from '../helpers/cli.js';
import { allTableChecksums, capture, sequenceValues, syncAndTransform, testConfig } from './helpers.js';

function roundFloats(v: unknown): unknown {
  if (typeof v === 'number') return Number.isInteger(v) ? v : Number(v.toPrecision(12));
  if (Array.isArray(v)) return v.map(roundFloats);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, roundFloats(x)]));
  return v;
}

describe('ops: backup and restore', function () {
  this.timeout(120_000);
  let src: TestDatabase;
  let dst: TestDatabase;
  let sim: Simulator;
  let dir: string;
  let file: string;
  let token: string;
  const servers: ApiServer[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qbsync-backup-'));
    file = path.join(dir, 'qbsync.qbk');
    src = await createTestDatabase();
    dst = await createTestDatabase({ empty: true });
    sim = await testSimulator({ size: 'tiny' });
    await syncAndTransform(src, sim);
    sim.advance(24);
    await syncAndTransform(src, sim, { mode: 'incremental' });
    // Jobs state too: queues (with their partitions), a queued job, the cron schedule.
    const boss = await startBoss(src.url, undefined, { schedule: false, supervise: false });
    await boss.send(QUEUES.transform, { target: 'tests' }, { singletonKey: 'tests' });
    await setSyncSchedule(boss, '*/15 * * * *', 'UTC');
    await boss.stop({ graceful: false, wait: true });
    token = (await createApiToken(src.pool, { name: 'ops-backup-test' })).token;
  });
  after(async () => {
    for (const s of servers) await s.stop();
    await sim?.close();
    await src?.drop();
    await dst?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('backup, then restore into an empty database: identical tables, sequences and API answers', async () => {
    const env = cliEnv(src.url, sim);
    const b = await runCli(['backup', '--out', file, '--json'], env);
    expect(b.code, b.stderr).to.equal(0);
    const out = JSON.parse(b.stdout);
    expect(out.tables.map((t: { schema: string; name: string }) => `${t.schema}.${t.name}`)).to.include.members([
      'public.knex_migrations', 'raw.page_bodies', 'raw.fetches', 'qbsync.sync_runs', 'qbsync.raw_records', 'qbench.tests', 'pgboss.queue', 'pgboss.job', 'pgboss.schedule',
    ]);
    // Parents before the tables that reference them.
    const order = out.tables.map((t: { schema: string; name: string }) => `${t.schema}.${t.name}`);
    expect(order.indexOf('raw.page_bodies')).to.be.lessThan(order.indexOf('raw.fetches'));
    expect(order.indexOf('pgboss.queue')).to.be.lessThan(order.indexOf('pgboss.job'));
    expect(fs.existsSync(`${file}.partial`)).to.equal(false);
    expect(fs.statSync(file).mode & 0o077).to.equal(0);

    const r = await runCli(['restore', '--in', file], cliEnv(dst.url, sim));
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/restored \d+ tables \(\d+ rows, checksums verified\)/);

    expect(await tableChecksums(dst)).to.deep.equal(await tableChecksums(src));
    expect(await allTableChecksums(dst.pool)).to.deep.equal(await allTableChecksums(src.pool));
    expect(await sequenceValues(dst.pool)).to.deep.equal(await sequenceValues(src.pool));
    // The same triggers on raw as the source (immutability included), all enabled after the load.
    const triggers = async (db: TestDatabase) =>
      (await db.pool.query(`SELECT tgrelid::regclass::text || '.' || tgname || ':' || tgenabled::text AS t FROM pg_trigger
                            WHERE tgrelid IN ('raw.fetches'::regclass, 'raw.page_bodies'::regclass) AND NOT tgisinternal ORDER BY 1`)).rows.map((r) => r.t);
    expect(await triggers(dst)).to.deep.equal(await triggers(src));
    expect(await triggers(dst)).to.include.members(['raw.fetches.fetches_immutable:O', 'raw.fetches.fetches_no_truncate:O', 'raw.page_bodies.page_bodies_immutable:O']);
    let err: Error | undefined;
    await dst.pool.query(`UPDATE raw.fetches SET http_status = 0 WHERE id = 1`).catch((e: Error) => (err = e));
    expect(err?.message).to.match(/append-only/);

    // The same answers from the API (the token was restored with the data).
    const config = testConfig();
    const paths = ['/api/v1/metrics/summary?date_from=2026-01-01&date_to=2026-12-31', '/api/v1/metrics/samples/overview?date_from=2026-01-01&date_to=2026-12-31'];
    const answers: string[][] = [];
    for (const db of [src, dst]) {
      const server = await startApiServer({ db, config, logger: capture().logger }, { host: '127.0.0.1', port: 0 });
      servers.push(server);
      const got: string[] = [];
      for (const p of paths) {
        const res = await fetch(server.url + p, { headers: { authorization: `Bearer ${token}` } });
        if (res.status !== 200) throw new Error(`${p}: ${res.status} ${await res.text()}`);
        got.push(await res.text());
      }
      answers.push(got);
    }
    // Equal, up to the last bits of float averages (their summation order follows the query plan, which the fresh
    // statistics of the restored database may change).
    for (let i = 0; i < paths.length; i++) expect(roundFloats(JSON.parse(answers[1][i])), paths[i]).to.deep.equal(roundFloats(JSON.parse(answers[0][i])));
    expect(JSON.parse(answers[0][0]).kpis.total_tests).to.be.greaterThan(0);

    // pg-boss works on the restored database: the queued job and the schedule are there.
    const boss = await startBoss(dst.url, undefined, { schedule: false, supervise: false });
    try {
      expect(await boss.getQueueSize(QUEUES.transform)).to.equal(1);
      expect((await boss.getSchedules()).map((s) => s.name)).to.include(QUEUES.sync);
      expect(await boss.send(QUEUES.sync, { mode: 'incremental', entities: [] })).to.be.a('string');
    } finally {
      await boss.stop({ graceful: false, wait: true });
    }
  });

  it('refuses a database that is not empty, and damaged or foreign files, with a clear message', async () => {
    const again = await runCli(['restore', '--in', file], cliEnv(dst.url, sim));
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/not empty/);

    const check = await runCli(['restore', '--in', file, '--check'], cliEnv(src.url, sim));
    expect(check.code, check.stderr).to.equal(0);
    expect(check.stdout).to.match(/complete and intact/);
    expect(check.stdout).to.match(/raw\.fetches\s+\d+ rows/);

    // Truncated: the whole file but its last bytes (gzip'd again so only the frames are cut).
    const whole = zlib.gunzipSync(fs.readFileSync(file));
    const cut = path.join(dir, 'cut.qbk');
    fs.writeFileSync(cut, zlib.gzipSync(whole.subarray(0, whole.length - 100)));
    const c = await checkBackupFile(cut).then(() => undefined, (e: Error) => e);
    expect(c?.message).to.match(/truncated/);
    const foreign = path.join(dir, 'foreign.qbk');
    fs.writeFileSync(foreign, 'hello');
    const f = await runCli(['restore', '--in', foreign, '--check'], cliEnv(src.url, sim));
    expect(f.code).to.equal(1);
    expect(f.stderr).to.match(/not a qbsync backup file/);

    // A truncated file into an empty database: nothing is loaded, and the message says what to do.
    const empty = await createTestDatabase({ empty: true });
    try {
      const t = await runCli(['restore', '--in', cut], cliEnv(empty.url, sim));
      expect(t.code).to.equal(1);
      expect(t.stderr).to.match(/restore failed, no data was loaded: .*truncated.*drop and re-create/);
      expect(Number((await empty.pool.query(`SELECT count(*) AS n FROM raw.fetches`)).rows[0].n)).to.equal(0);
    } finally {
      await empty.drop();
    }
  });
});
