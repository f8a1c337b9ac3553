/**
 * Transforms and replay against a real Postgres and the simulator over HTTP: a full sync of the `small` lab,
 * then typed tables compared with the simulator's truth (parsed independently here), idempotence, replay
 * (identical checksums, no request to QBench), an incremental sync after simulated time passes (state
 * changes of old tests, soft deletes), rollups against an independent computation, and crafted raw events
 * (bad values, versions fetched out of order, deletes, same-version merges, drift, orphans).
 */
import crypto from 'node:crypto';
import { expect } from 'chai';
import { createLogger, loadConfig } from '../../core/index.js';
import { insertEvents, makeClient, MemoryRateBudget, runSync, type EntityName, type RawEvent } from '../../ingest/index.js';
import type { SimEntity, Simulator } from '../../sim/index.js';
import { drift, orphans, replay, runTransforms, tableChecksums, type TableChecksum } from '../../transform/index.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator, TEST_CLIENT_ID, TEST_CLIENT_SECRET } from '../helpers/sim.js';

const ALL: EntityName[] = ['customers', 'orders', 'samples', 'batches', 'tests', 'assays', 'reports'];
const V1: Record<EntityName, SimEntity> = {
  customers: 'customer', orders: 'order', samples: 'sample', batches: 'batch', tests: 'test', assays: 'assay', reports: 'report',
};
const logger = createLogger({ level: 'silent', console: false });
const config = loadConfig({ QBENCH_CLIENT_ID: TEST_CLIENT_ID, QBENCH_CLIENT_SECRET: TEST_CLIENT_SECRET, QBENCH_BASE_URL: 'http://127.0.0.1:1' });

type Row = Record<string, any>;
type Truth = Record<string, any>;

/** QBench date strings, parsed here without the transform's SQL: epoch ms (UTC), or null. */
function qbTime(s: unknown): number | null {
  if (s === null || s === undefined) return null;
  const t = String(s);
  let m = /^(\d\d)\/(\d\d)\/(\d{4}) (\d\d):(\d\d) (AM|PM)$/.exec(t);
  if (m) return Date.UTC(+m[3], +m[1] - 1, +m[2], (+m[4] % 12) + (m[6] === 'PM' ? 12 : 0), +m[5]);
  m = /^(\d\d)\/(\d\d)\/(\d{4})$/.exec(t);
  if (m) return Date.UTC(+m[3], +m[1] - 1, +m[2]);
  if (/^\d{9,10}$/.test(t)) return Number(t) * 1000;
  throw new Error(`not a QBench date: ${t}`);
}
const ms = (d: Date | null | undefined) => (d ? d.getTime() : null);
const round = (x: number | null) => (x === null ? null : Math.round(x * 1e9) / 1e9);
const ids = (v: unknown) => (v as number[] | null)?.map(Number) ?? null;

/** Key fields of a typed row and of the simulator's object, side by side. */
const KEY_FIELDS: Record<EntityName, (row: Row, t: Truth) => Record<string, [unknown, unknown]>> = {
  customers: (r, t) => ({
    customer_name: [r.customer_name, t.customer_name],
    date_created: [ms(r.date_created), qbTime(t.date_created)],
    last_updated: [ms(r.last_updated), qbTime(t.last_updated)],
  }),
  orders: (r, t) => ({
    customer_id: [r.customer_id, t.customer_account_id],
    state: [r.state, t.state],
    date_created: [ms(r.date_created), qbTime(t.date_created)],
    date_completed: [ms(r.date_completed), qbTime(t.date_completed)],
    date_order_reported: [ms(r.date_order_reported), qbTime(t.date_order_reported)],
    last_updated: [ms(r.last_updated), qbTime(t.last_updated)],
  }),
  samples: (r, t) => ({
    order_id: [r.order_id, t.order_id],
    state: [r.state, t.state],
    sample_type: [r.sample_type, t.accessioning_type?.value ?? null],
    matrix_type: [r.matrix_type, t.matrix_type],
    has_report: [r.has_report, t.has_report],
    date_created: [ms(r.date_created), qbTime(t.date_created)],
    completed_date: [ms(r.completed_date), qbTime(t.completed_date)],
    batch_ids: [ids(r.batch_ids), t.batches],
    test_count: [r.test_count, t.test_count],
  }),
  batches: (r, t) => ({
    assay_id: [r.assay_id, t.assay_id],
    batch_status: [r.batch_status, t.batch_status],
    sample_ids: [ids(r.sample_ids), t.sample_ids],
    test_ids: [ids(r.test_ids), t.test_ids],
    date_created: [ms(r.date_created), qbTime(t.date_created)],
  }),
  tests: (r, t) => ({
    sample_id: [r.sample_id, t.sample_id],
    assay_id: [r.assay_id, t.assay_id],
    label_abbr: [r.label_abbr, t.label_abbr ?? t.assay?.label_abbr],
    title: [r.title, t.title ?? t.assay?.title],
    state: [r.state, t.state],
    has_report: [r.has_report, t.has_report],
    date_created: [ms(r.date_created), qbTime(t.date_created)],
    start_date: [ms(r.start_date), qbTime(t.start_date)],
    report_completed_date: [ms(r.report_completed_date), qbTime(t.report_completed_date)],
    batch_ids: [ids(r.batch_ids), t.batches],
    tat_hours: [round(r.tat_hours), t.report_completed_date ? round((qbTime(t.report_completed_date)! - qbTime(t.date_created)!) / 3_600_000) : null],
    last_updated: [ms(r.last_updated), qbTime(t.last_updated)],
  }),
  assays: (r, t) => ({ label_abbr: [r.label_abbr, t.label_abbr], title: [r.title, t.title] }),
  reports: (r, t) => ({
    sample_id: [r.sample_id, t.sample_id],
    test_ids: [ids(r.test_ids), JSON.parse(t.render_params).test_ids],
    date_generated: [ms(r.date_generated), qbTime(t.date_generated)],
  }),
};

/** Every non-deleted typed row equals the simulator's current object on the key fields; ids equal truth.ids. */
async function expectTypedEqualsTruth(db: TestDatabase, sim: Simulator): Promise<void> {
  for (const entity of ALL) {
    const { rows } = await db.pool.query(`SELECT * FROM qbench.${entity} WHERE NOT deleted ORDER BY id`);
    expect(rows.map((r) => Number(r.id)), `${entity} ids`).to.deep.equal(sim.truth.ids(V1[entity]));
    const mismatches: string[] = [];
    for (const row of rows) {
      const truth = sim.truth.get(V1[entity], Number(row.id))!;
      for (const [field, [got, want]] of Object.entries(KEY_FIELDS[entity](row, truth))) {
        if (JSON.stringify(got) !== JSON.stringify(want)) mismatches.push(`${entity} ${row.id} ${field}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
      }
      expect(row.parse_errors, `${entity} ${row.id} parse_errors`).to.equal(null);
      expect(row.payload.id).to.equal(Number(row.id));
    }
    expect(mismatches.slice(0, 10), `${entity}: ${mismatches.length} mismatching fields`).to.deep.equal([]);
  }
}

function expectSameTables(a: Record<string, TableChecksum>, b: Record<string, TableChecksum>): void {
  expect(Object.keys(a)).to.have.length(16);
  expect(b).to.deep.equal(a);
}

/** The rollups recomputed here from the typed rows, in `timeZone` (Intl, not SQL). */
async function expectRollupsMatchTypedRows(db: TestDatabase, timeZone: string): Promise<void> {
  const fmt = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
  const dayOf = (d: Date) => fmt.format(d);
  const key = (...parts: unknown[]) => JSON.stringify(parts);
  const { rows: samples } = await db.pool.query(
    `SELECT s.date_created, s.completed_date, s.sample_type, s.state, s.matrix_type, o.customer_id
     FROM qbench.samples s LEFT JOIN qbench.orders o ON o.id = s.order_id WHERE NOT s.deleted AND s.date_created IS NOT NULL`,
  );
  const expSamples = new Map<string, { created: number; completed: number }>();
  const expSamplesLab = new Map<string, { created: number; completed: number }>();
  for (const s of samples) {
    for (const [m, k] of [[expSamples, key(dayOf(s.date_created), s.customer_id, s.sample_type, s.state, s.matrix_type)], [expSamplesLab, key(dayOf(s.date_created), s.state, s.matrix_type)]] as const) {
      const e = m.get(k) ?? { created: 0, completed: 0 };
      e.created++;
      if (s.completed_date) e.completed++;
      m.set(k, e);
    }
  }
  const { rows: gotSamples } = await db.pool.query(`SELECT day::text, customer_id, sample_type, state, matrix_type, samples_created, samples_completed FROM qbench.rollup_samples_daily`);
  expect(gotSamples.length).to.equal(expSamples.size);
  for (const g of gotSamples) {
    expect(expSamples.get(key(g.day, g.customer_id, g.sample_type, g.state, g.matrix_type)), `samples ${g.day}`).to.deep.equal({ created: g.samples_created, completed: g.samples_completed });
  }
  const { rows: gotSamplesLab } = await db.pool.query(`SELECT day::text, state, matrix_type, samples_created, samples_completed FROM qbench.rollup_samples_lab`);
  expect(gotSamplesLab.length).to.equal(expSamplesLab.size);
  for (const g of gotSamplesLab) {
    expect(expSamplesLab.get(key(g.day, g.state, g.matrix_type)), `samples lab ${g.day}`).to.deep.equal({ created: g.samples_created, completed: g.samples_completed });
  }

  const { rows: tests } = await db.pool.query(
    `SELECT t.date_created, t.report_completed_date, t.label_abbr, t.state, s.sample_type, o.customer_id
     FROM qbench.tests t LEFT JOIN qbench.samples s ON s.id = t.sample_id LEFT JOIN qbench.orders o ON o.id = s.order_id
     WHERE NOT t.deleted`,
  );
  const tat = (t: Row) => (t.date_created && t.report_completed_date ? (t.report_completed_date.getTime() - t.date_created.getTime()) / 3_600_000 : null);
  type Acc = { n: number; reported: number; tat: number[] };
  const add = (m: Map<string, Acc>, k: string, t: Row, countReported: boolean) => {
    const e = m.get(k) ?? { n: 0, reported: 0, tat: [] };
    e.n++;
    if (countReported && t.report_completed_date) e.reported++;
    if (tat(t) !== null) e.tat.push(tat(t)!);
    m.set(k, e);
  };
  const created = new Map<string, Acc>();
  const reported = new Map<string, Acc>();
  // The lab-wide layers: counts without the customer, TAT values by (day, label) and (day, state), and by month.
  const createdLab = new Map<string, Acc>();
  const reportedLab = new Map<string, Acc>();
  const tatCreated = new Map<string, Acc>();
  const tatReported = new Map<string, Acc>();
  const perCustomer = new Map<string, { created: number; reported: number }>();
  const customerDay = (day: string, id: unknown, what: 'created' | 'reported') => {
    if (id == null) return;
    const e = perCustomer.get(key(day, id)) ?? { created: 0, reported: 0 };
    e[what]++;
    perCustomer.set(key(day, id), e);
  };
  for (const t of tests) {
    if (t.date_created) {
      const d = dayOf(t.date_created);
      add(created, key(d, t.label_abbr, t.customer_id, t.sample_type, t.state), t, true);
      add(createdLab, key(d, t.label_abbr, t.state), t, true);
      if (tat(t) !== null) {
        add(tatCreated, key('D', d, t.label_abbr), t, false);
        add(tatCreated, key('M', `${d.slice(0, 7)}-01`, t.label_abbr), t, false);
      }
      customerDay(d, t.customer_id, 'created');
    }
    if (t.report_completed_date) {
      const d = dayOf(t.report_completed_date);
      add(reported, key(d, t.label_abbr, t.customer_id, t.sample_type, t.state), t, false);
      add(reportedLab, key(d, t.sample_type, t.state), t, false);
      if (tat(t) !== null) {
        add(tatReported, key('D', d, t.state), t, false);
        add(tatReported, key('M', `${d.slice(0, 7)}-01`, t.state), t, false);
      }
      customerDay(d, t.customer_id, 'reported');
    }
  }
  const sameValues = (got: number[], want: number[], what: string) => {
    want.sort((x, y) => x - y);
    expect(got.length, what).to.equal(want.length);
    got.forEach((v, i) => expect(v, what).to.be.closeTo(want[i], 1e-9));
  };
  const { rows: gotCreated } = await db.pool.query(`SELECT day::text, label_abbr, customer_id, sample_type, state, tests_created, tests_reported, tat_count, tat_sum, tat_hours FROM qbench.rollup_tests_created`);
  expect(gotCreated.length).to.equal(created.size);
  for (const g of gotCreated) {
    const e = created.get(key(g.day, g.label_abbr, g.customer_id, g.sample_type, g.state));
    expect(e, `tests created ${g.day} ${g.label_abbr}`).to.not.equal(undefined);
    expect([g.tests_created, g.tests_reported, g.tat_count]).to.deep.equal([e!.n, e!.reported, e!.tat.length]);
    sameValues(g.tat_hours, e!.tat, `created ${g.day}`);
    expect(g.tat_sum).to.be.closeTo(e!.tat.reduce((a, b) => a + b, 0), 1e-6);
  }
  const { rows: gotReported } = await db.pool.query(`SELECT day::text, label_abbr, customer_id, sample_type, state, tests_reported, tat_count, tat_hours FROM qbench.rollup_tests_reported`);
  expect(gotReported.length).to.equal(reported.size);
  for (const g of gotReported) {
    const e = reported.get(key(g.day, g.label_abbr, g.customer_id, g.sample_type, g.state));
    expect(e, `tests reported ${g.day} ${g.label_abbr}`).to.not.equal(undefined);
    expect([g.tests_reported, g.tat_count]).to.deep.equal([e!.n, e!.tat.length]);
    sameValues(g.tat_hours, e!.tat, `reported ${g.day}`);
  }

  const { rows: gotCreatedLab } = await db.pool.query(`SELECT day::text, label_abbr, state, tests_created, tests_reported, tat_count, tat_sum FROM qbench.rollup_tests_created_lab`);
  expect(gotCreatedLab.length).to.equal(createdLab.size);
  for (const g of gotCreatedLab) {
    const e = createdLab.get(key(g.day, g.label_abbr, g.state));
    expect(e, `tests created lab ${g.day} ${g.label_abbr}`).to.not.equal(undefined);
    expect([g.tests_created, g.tests_reported, g.tat_count]).to.deep.equal([e!.n, e!.reported, e!.tat.length]);
    expect(g.tat_sum).to.be.closeTo(e!.tat.reduce((a, b) => a + b, 0), 1e-6);
  }
  const { rows: gotReportedLab } = await db.pool.query(`SELECT day::text, sample_type, state, tests_reported, tat_count, tat_sum FROM qbench.rollup_tests_reported_lab`);
  expect(gotReportedLab.length).to.equal(reportedLab.size);
  for (const g of gotReportedLab) {
    const e = reportedLab.get(key(g.day, g.sample_type, g.state));
    expect(e, `tests reported lab ${g.day} ${g.sample_type}`).to.not.equal(undefined);
    expect([g.tests_reported, g.tat_count]).to.deep.equal([e!.n, e!.tat.length]);
    expect(g.tat_sum).to.be.closeTo(e!.tat.reduce((a, b) => a + b, 0), 1e-6);
  }
  // TAT parts: per group (day or month), parts 0..k-1 of at most 960 sorted values that together are its values.
  for (const [table, col, want] of [['rollup_tat_created', 'label_abbr', tatCreated], ['rollup_tat_reported', 'state', tatReported]] as const) {
    const { rows } = await db.pool.query(`SELECT span, day::text, ${col} AS g, part, tat_hours FROM qbench.${table} ORDER BY span, day, ${col}, part`);
    const got = new Map<string, number[]>();
    for (const g of rows) {
      const k = key(g.span, g.day, g.g);
      const values = got.get(k) ?? [];
      expect(g.part, `${table} ${k} part`).to.equal(Math.floor(values.length / 960));
      expect(g.tat_hours.length, `${table} ${k} part size`).to.be.within(1, 960);
      got.set(k, [...values, ...g.tat_hours]);
    }
    expect(got.size, table).to.equal(want.size);
    for (const [k, values] of got) {
      expect(want.has(k), `${table} ${k}`).to.equal(true);
      sameValues(values, want.get(k)!.tat, `${table} ${k}`);
    }
  }
  const { rows: gotCustomers } = await db.pool.query(`SELECT day::text, customer_id, tests_created, tests_reported FROM qbench.rollup_customers_daily`);
  expect(gotCustomers.length).to.equal(perCustomer.size);
  for (const g of gotCustomers) {
    expect(perCustomer.get(key(g.day, g.customer_id)), `customers daily ${g.day} ${g.customer_id}`).to.deep.equal({ created: g.tests_created, reported: g.tests_reported });
  }
}

describe('transforms and replay', function () {
  // ~40 s for the whole file on an idle machine; the bound leaves room for a busy one.
  this.timeout(240_000);
  let db: TestDatabase;
  let sim: Simulator;
  const sync = (mode: 'full' | 'incremental') =>
    runSync(
      { db, logger, makeClient: (onEvent) => makeClient(config, { baseUrl: sim.url, logger, onEvent, rateBudget: new MemoryRateBudget({ limit: 1e6, windowMs: 1000 }) }) },
      { mode, entities: ALL },
    );

  before(async () => {
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'small' });
    const out = await sync('full');
    expect(out.status).to.equal('succeeded');
  });
  after(async () => {
    await sim?.close();
    await db?.drop();
  });

  it('types every landed record: ids and key fields equal the simulator truth', async () => {
    const out = await runTransforms(db, { logger, timezone: 'UTC' });
    const tests = out.targets.find((s) => s.target === 'tests')!;
    expect(tests.inserted).to.equal(sim.truth.count('test'));
    expect(tests.fetches).to.be.greaterThan(0);
    await expectTypedEqualsTruth(db, sim);
    // Every fetch applied, watermarks at the horizon.
    const { rows } = await db.pool.query(`SELECT target, last_fetch_id FROM qbsync.transform_watermarks WHERE schema_name = 'qbench'`);
    expect(rows).to.have.length(7);
    for (const r of rows) expect(Number(r.last_fetch_id)).to.equal(out.horizon);
    expect((await orphans(db)).counts).to.deep.equal({ tests_without_sample: 0, samples_without_order: 0, orders_without_customer: 0 });
    for (const d of await drift(db, { scanRaw: true })) {
      expect(d.unknown_keys, `${d.entity} unknown keys`).to.deep.equal([]);
      expect(d.parse_errors, `${d.entity} parse errors`).to.deep.equal([]);
      expect(d.records_without_id).to.equal(0);
    }
  });

  it('changes nothing when run again', async () => {
    const before = await tableChecksums(db);
    const out = await runTransforms(db, { logger, timezone: 'UTC' });
    for (const s of out.targets) expect([s.fetches, s.inserted, s.updated, s.deleted], s.target).to.deep.equal([0, 0, 0, 0]);
    expectSameTables(before, await tableChecksums(db));
  });

  it('replays from raw into identical tables without a request to QBench', async () => {
    const before = await tableChecksums(db);
    const indexes = async () => (await db.pool.query(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'qbench' ORDER BY 1`)).rows;
    const indexesBefore = await indexes();
    const requests = sim.stats().requests;
    const out = await replay(db, { logger, timezone: 'UTC' });
    expect(out.scope).to.equal('all');
    expect(sim.stats().requests).to.equal(requests);
    expectSameTables(before, await tableChecksums(db));
    const { rows } = await db.pool.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'qbench%' ORDER BY 1`);
    expect(rows.map((r) => r.nspname)).to.deep.equal(['qbench']);
    // The swapped-in schema keeps the live schema's indexes, with the same names.
    expect(indexesBefore.length).to.be.greaterThan(25);
    expect(await indexes()).to.deep.equal(indexesBefore);
  });

  it('follows an incremental sync: state changes of old tests, new records and soft deletes', async () => {
    const { rows: beforeRows } = await db.pool.query(`SELECT id, state FROM qbench.tests`);
    const stateBefore = new Map(beforeRows.map((r) => [Number(r.id), r.state]));
    const adv = sim.advance(48);
    expect(adv.deleted).to.be.greaterThan(0);
    expect((await sync('incremental')).status).to.equal('succeeded');
    const out = await runTransforms(db, { logger, timezone: 'UTC' });
    expect(out.targets.find((s) => s.target === 'tests')!.deleted).to.be.greaterThan(0);
    await expectTypedEqualsTruth(db, sim);

    const { rows } = await db.pool.query(`SELECT id, state, deleted, deleted_at FROM qbench.tests`);
    const changedOld = rows.filter((r) => stateBefore.has(Number(r.id)) && !r.deleted && stateBefore.get(Number(r.id)) !== r.state);
    expect(changedOld.length, 'tests that existed before and changed state').to.be.greaterThan(0);
    const deletedTruth = new Set(sim.truth.deletedIds('test'));
    const softDeleted = rows.filter((r) => r.deleted);
    expect(softDeleted.length).to.be.greaterThan(0);
    for (const r of softDeleted) {
      expect(deletedTruth.has(Number(r.id)), `test ${r.id} deleted in QBench`).to.equal(true);
      expect(r.deleted_at).to.be.instanceOf(Date);
    }
    for (const r of rows) if (deletedTruth.has(Number(r.id))) expect(r.deleted, `test ${r.id} soft-deleted`).to.equal(true);

    // Incremental and replay give the same tables.
    const incremental = await tableChecksums(db);
    await replay(db, { logger, timezone: 'UTC' });
    expectSameTables(incremental, await tableChecksums(db));
  });

  it('keeps rollups equal to an independent computation from the typed rows, in the lab timezone', async () => {
    await expectRollupsMatchTypedRows(db, 'UTC');

    // Median, p95 (index rule of qbench-api.md §7) and SLA counts for a year, from the rollup arrays.
    const from = '2025-11-20';
    const to = '2026-11-21';
    const { rows: [r] } = await db.pool.query(
      `WITH v AS (SELECT array_agg(x ORDER BY x) AS a FROM qbench.rollup_tests_reported, unnest(tat_hours) x WHERE day >= $1 AND day < $2)
       SELECT cardinality(a) AS n, qbsync.tat_median(a) AS median, qbsync.tat_p95(a) AS p95,
              qbsync.count_le(a, 48) AS within48, qbsync.count_le(a, 72) AS within72,
              (SELECT sum(qbsync.count_le(tat_hours, 48))::int FROM qbench.rollup_tests_reported WHERE day >= $1 AND day < $2) AS within48_by_bucket
       FROM v`,
      [from, to],
    );
    const { rows: typed } = await db.pool.query(
      `SELECT tat_hours FROM qbench.tests WHERE NOT deleted AND tat_hours IS NOT NULL AND report_completed_date >= $1 AND report_completed_date < $2`,
      [from, to],
    );
    const vals = typed.map((t) => t.tat_hours as number).sort((a, b) => a - b);
    const n = vals.length;
    expect(n).to.be.greaterThan(1000);
    expect(r.n).to.equal(n);
    const median = n % 2 ? vals[(n - 1) / 2] : (vals[n / 2 - 1] + vals[n / 2]) / 2;
    expect(r.median).to.equal(median);
    expect(r.p95).to.equal(vals[Math.max(0, Math.min(Math.floor(n * 0.95) - 1, n - 1))]);
    expect(r.within48).to.equal(vals.filter((v) => v <= 48).length);
    expect(r.within48_by_bucket).to.equal(r.within48);
    expect(r.within72).to.equal(vals.filter((v) => v <= 72).length);

    // Another timezone: a replay recounts every day; incremental runs in the old one are refused.
    await replay(db, { logger, timezone: 'America/Bogota' });
    await expectRollupsMatchTypedRows(db, 'America/Bogota');
    let err: unknown;
    try {
      await runTransforms(db, { logger, timezone: 'UTC' });
    } catch (e) {
      err = e;
    }
    expect((err as Error)?.message).to.match(/count days in America\/Bogota.*qbsync replay/);
    await replay(db, { logger, timezone: 'UTC' });
    await expectRollupsMatchTypedRows(db, 'UTC');
  });

  describe('crafted raw events', () => {
    const runId = crypto.randomUUID();
    let base: Truth;
    async function land(entity: EntityName, kind: RawEvent['kind'], body: unknown): Promise<number> {
      const client = await db.pool.connect();
      try {
        const r = await insertEvents(client, [{ runId, entity, kind, endpoint: `/crafted/${entity}`, params: {}, httpStatus: 200, recordCount: 1, body, fetchedAt: new Date(), durationMs: 1 }]);
        return r.fetchIds[0];
      } finally {
        client.release();
      }
    }
    const get = async (id: number) => (await db.pool.query(`SELECT * FROM qbench.tests WHERE id = $1`, [id])).rows[0];
    const transform = () => runTransforms(db, { logger, timezone: 'UTC', targets: ['tests'] });

    before(() => {
      base = { ...sim.truth.get('test', sim.truth.ids('test')[0])! };
    });

    it('keeps a row whose values do not parse: NULL, the error recorded, the rest of the row typed', async () => {
      await land('tests', 'detail', {
        ...base, id: 9_000_001, sample_id: 8_888_888, date_created: '13/45/2025 09:99 PM', report_completed_date: '02/30/2026 10:00 AM',
        batches: [1, 'x'], has_report: 'maybe', state: 'REPORTED', label_abbr: 'CN', new_field: { a: 1 },
      });
      const out = await transform();
      expect(out.targets[0].inserted).to.equal(1);
      const row = await get(9_000_001);
      expect(row.date_created).to.equal(null);
      expect(row.report_completed_date).to.equal(null);
      expect(row.batch_ids).to.equal(null);
      expect(row.has_report).to.equal(null);
      expect(row.tat_hours).to.equal(null);
      expect(row.parse_errors).to.deep.equal({
        date_created: { value: '13/45/2025 09:99 PM', error: 'expected a date' },
        report_completed_date: { value: '02/30/2026 10:00 AM', error: 'expected a date' },
        batches: { value: [1, 'x'], error: 'expected an array of ids' },
        has_report: { value: 'maybe', error: 'expected a boolean' },
      });
      expect([row.state, row.label_abbr, Number(row.sample_id), Number(row.assay_id)]).to.deep.equal(['REPORTED', 'CN', 8_888_888, base.assay_id]);
      expect(ms(row.start_date)).to.equal(qbTime(base.start_date));
      expect(row.payload.new_field).to.deep.equal({ a: 1 });

      const o = await orphans(db);
      expect(o.counts.tests_without_sample).to.equal(1);
      expect(o.orphans).to.deep.include({ entity: 'tests', id: 9_000_001, missing: 'sample', parent_id: 8_888_888 });
      const d = (await drift(db)).find((e) => e.entity === 'tests')!;
      expect(d.unknown_keys).to.deep.equal([{ key: 'new_field', rows: 1, example_id: 9_000_001, example_value: { a: 1 } }]);
      expect(d.parse_errors.map((p) => [p.field, p.rows])).to.have.deep.members([['date_created', 1], ['report_completed_date', 1], ['batches', 1], ['has_report', 1]]);
    });

    it('keeps the newest last_updated whatever the fetch order; merges same-version copies; soft-deletes and revives', async () => {
      const id = 9_000_002;
      const v = (lu: string, extra: Truth = {}): Truth => ({ ...base, id, last_updated: lu, ...extra });
      const first = await land('tests', 'detail', v('2000000000', { state: 'REPORTED' }));
      await land('tests', 'list', { data: [v('1900000000', { state: 'IN PROGRESS' })], total_count: 1, total_pages: 1 });
      await transform();
      let row = await get(id);
      expect([row.state, ms(row.last_updated), Number(row.source_fetch_id)]).to.deep.equal(['REPORTED', 2_000_000_000_000, first]);

      // An older version fetched later, alone in its batch, changes nothing either.
      await land('tests', 'detail', v('1950000000', { state: 'ON HOLD' }));
      expect((await transform()).targets[0].unchanged).to.equal(1);
      expect((await get(id)).state).to.equal('REPORTED');

      // The same version without label_abbr (a v1 list quirk) but with a key of its own: merged, not replaced.
      const { label_abbr: _drop, ...noLabel } = v('2000000000', { state: 'REPORTED', comments: 'second copy' });
      await land('tests', 'list', { data: [{ ...noLabel, assay: { id: 99 } }], total_count: 1, total_pages: 1 });
      await transform();
      row = await get(id);
      expect([row.label_abbr, row.payload.comments, row.payload.assay, Number(row.source_fetch_id)]).to.deep.equal([base.label_abbr, 'second copy', { id: 99 }, first]);

      // Deleted through the Updates feed; a stale copy fetched afterwards does not bring it back; a newer version does.
      const del = await land('tests', 'updates', { deleted: [id], updated: [] });
      await transform();
      row = await get(id);
      const { rows: [f] } = await db.pool.query(`SELECT fetched_at FROM raw.fetches WHERE id = $1`, [del]);
      expect([row.deleted, ms(row.deleted_at)]).to.deep.equal([true, ms(f.fetched_at)]);
      await land('tests', 'updates', { deleted: [], updated: [v('2000000000', { state: 'REPORTED' })] });
      await transform();
      expect((await get(id)).deleted).to.equal(true);
      await land('tests', 'updates', { deleted: [], updated: [v('2100000000', { state: 'COMPLETED' })] });
      await transform();
      row = await get(id);
      expect([row.deleted, row.deleted_at, row.state]).to.deep.equal([false, null, 'COMPLETED']);

      // However these events are batched, a replay (all of them in one batch) gives the same tables.
      const incremental = await tableChecksums(db);
      await replay(db, { logger, timezone: 'UTC' });
      expectSameTables(incremental, await tableChecksums(db));
      await expectRollupsMatchTypedRows(db, 'UTC');
    });

    it('runs from the command line: transform, report orphans|drift, replay --entity (usage errors exit 2)', async () => {
      const env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: db.url, QBSYNC_LOG_LEVEL: 'error' };
      const [t, o, d, bad] = await Promise.all([
        runCli(['transform', '--entity', 'tests,samples', '--json'], env),
        runCli(['report', 'orphans', '--json'], env),
        runCli(['report', 'drift'], env),
        runCli(['replay', '--entity', 'widgets'], env),
      ]);
      expect(t.code, t.stderr).to.equal(0);
      expect(JSON.parse(t.stdout).targets.map((x: { target: string }) => x.target)).to.deep.equal(['samples', 'tests']);
      expect(o.code, o.stderr).to.equal(0);
      expect(JSON.parse(o.stdout).counts.tests_without_sample).to.equal(1);
      expect(d.code, d.stderr).to.equal(0);
      expect(d.stdout).to.match(/unknown key new_field: 1 rows, e\.g\. id 9000001/);
      expect(d.stdout).to.match(/date_created did not parse: 1 rows/);
      expect(bad.code).to.equal(2);
      expect(bad.stderr).to.match(/unknown entity "widgets"/);
    });

    it('never moves a watermark past a landing still in flight (a lower fetch id committing later)', async () => {
      const slow = await db.pool.connect();
      try {
        await slow.query('BEGIN');
        const held = await insertEvents(slow, [{ runId, entity: 'tests', kind: 'detail', endpoint: '/crafted/slow', params: {}, httpStatus: 200, recordCount: 1,
          body: { ...base, id: 9_000_004 }, fetchedAt: new Date(), durationMs: 1 }]);
        const later = await land('tests', 'detail', { ...base, id: 9_000_005 });
        expect(later).to.be.greaterThan(held.fetchIds[0]);
        const running = transform();
        await new Promise((r) => setTimeout(r, 300));
        await slow.query('COMMIT');
        await running;
      } finally {
        slow.release();
      }
      expect((await get(9_000_004))?.id).to.equal(9_000_004);
      expect((await get(9_000_005))?.id).to.equal(9_000_005);
    });

    it('stays consistent when incremental runs and landings happen while a replay runs', async () => {
      const replaying = replay(db, { logger, timezone: 'UTC' });
      await land('tests', 'detail', { ...base, id: 9_000_003, last_updated: '2050000000', state: 'ON HOLD' });
      const [, during] = await Promise.all([replaying, runTransforms(db, { logger, timezone: 'UTC' })]);
      expect(during.targets).to.have.length(7);
      await runTransforms(db, { logger, timezone: 'UTC' });
      expect((await get(9_000_003))?.state).to.equal('ON HOLD');
      const incremental = await tableChecksums(db);
      await replay(db, { logger, timezone: 'UTC' });
      expectSameTables(incremental, await tableChecksums(db));
    });

    it('replays one entity by itself, leaving the others and recomputing the rollups', async () => {
      const before = await tableChecksums(db);
      const out = await replay(db, { logger, timezone: 'UTC', targets: ['tests'] });
      expect(out.scope).to.equal('tables');
      expect(out.targets.map((t) => t.target)).to.deep.equal(['tests']);
      expectSameTables(before, await tableChecksums(db));
    });
  });
});
