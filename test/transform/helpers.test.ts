/**
 * The SQL typing helpers of the typed-schema migration: every QBench spelling they accept, every bad value
 * they turn into NULL (never an error, also when the planner folds a constant argument), and the metric
 * helpers over sorted TAT arrays (median, p95 with the index rule of qbench-api.md §7, count_le).
 */
import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

describe('transform SQL helpers', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db?.drop();
  });

  const iso = (v: Date | null) => (v ? v.toISOString() : null);

  const DATES: Array<[string | null, string | null]> = [
    ['10/13/2025 03:16 PM', '2025-10-13T15:16:00.000Z'],
    ['10/13/2025 12:05 AM', '2025-10-13T00:05:00.000Z'],
    ['10/13/2025 12:05 PM', '2025-10-13T12:05:00.000Z'],
    ['01/01/2026 11:59 PM', '2026-01-01T23:59:00.000Z'],
    ['02/29/2024', '2024-02-29T00:00:00.000Z'],
    ['02/29/2000 01:00 PM', '2000-02-29T13:00:00.000Z'],
    ['1760368567', '2025-10-13T15:16:07.000Z'],
    ['1/2/2025 3:04 pm', '2025-01-02T15:04:00.000Z'],
    ['1/2/2025 3:04:05 PM', '2025-01-02T15:04:05.000Z'],
    ['10/13/2025 3:16PM', '2025-10-13T15:16:00.000Z'],
    ['  10/13/2025 03:16 PM ', '2025-10-13T15:16:00.000Z'],
    ['2025-10-13', '2025-10-13T00:00:00.000Z'],
    ['2025-10-13T15:16:00', '2025-10-13T15:16:00.000Z'],
    ['2025-10-13T15:16:00Z', '2025-10-13T15:16:00.000Z'],
    ['2025-10-13T15:16:00.250-05:00', '2025-10-13T20:16:00.250Z'],
    ['Mon, 13 Oct 2025 13:02:00 GMT', '2025-10-13T13:02:00.000Z'],
    // Not dates (or not real ones): NULL.
    ['02/29/2025', null],
    ['02/29/1900', null],
    ['02/30/2026 10:00 AM', null],
    ['04/31/2026', null],
    ['13/01/2025', null],
    ['00/10/2025', null],
    ['10/00/2025', null],
    ['10/13/2025 13:16 PM', null],
    ['10/13/2025 00:16 AM', null],
    ['10/13/2025 11:60 AM', null],
    ['10/13/1700', null],
    ['2025-13-01', null],
    ['Mon, 13 Foo 2025 13:02:00 GMT', null],
    ['garbage', null],
    ['', null],
    [null, null],
  ];

  it('parse_ts reads QBench dates as UTC and returns NULL for anything else (from columns)', async () => {
    const { rows } = await db.pool.query(
      `SELECT t, qbsync.parse_ts(t) AS v FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n`,
      [DATES.map((d) => d[0])],
    );
    expect(rows.map((r) => [r.t, iso(r.v)])).to.deep.equal(DATES);
  });

  it('parse_ts never raises, also when the planner folds a constant argument', async () => {
    for (const [text, want] of DATES) {
      const literal = text === null ? 'NULL' : `'${text}'`;
      const { rows } = await db.pool.query(`SELECT qbsync.parse_ts(${literal}) AS v`);
      expect(iso(rows[0].v), String(text)).to.equal(want);
    }
  });

  it('reads ids, integers, booleans and id arrays from JSON values; NULL when they are not', async () => {
    const { rows: [r] } = await db.pool.query(`
      SELECT qbsync.to_bigint('{"a": 12}'::jsonb ->> 'a') AS num, qbsync.to_bigint('{"a": "12"}'::jsonb ->> 'a') AS str,
             qbsync.to_bigint('{"a": 12.5}'::jsonb ->> 'a') AS frac, qbsync.to_bigint('{"a": "x1"}'::jsonb ->> 'a') AS word,
             qbsync.to_bigint('{"a": 1234567890123456789012}'::jsonb ->> 'a') AS huge, qbsync.to_bigint('{"a": {}}'::jsonb ->> 'a') AS obj,
             qbsync.to_int('{"a": 7}'::jsonb ->> 'a') AS i, qbsync.to_int('{"a": 99999999999}'::jsonb ->> 'a') AS ibig,
             qbsync.to_bool('{"a": true}'::jsonb ->> 'a') AS t, qbsync.to_bool('{"a": "False"}'::jsonb ->> 'a') AS f,
             qbsync.to_bool('{"a": 1}'::jsonb ->> 'a') AS one, qbsync.to_bool('{"a": "maybe"}'::jsonb ->> 'a') AS maybe,
             qbsync.to_ids('[1, 2, 3]') AS ids, qbsync.to_ids('[]') AS empty, qbsync.to_ids('[1, "2", {"id": 3}]') AS mixed,
             qbsync.to_ids('[1, "x"]') AS badel, qbsync.to_ids('[99999999999999999999]') AS hugeel, qbsync.to_ids('{"a": 1}') AS notarr,
             qbsync.to_ids(NULL) AS nul,
             qbsync.to_jsonb_doc('"{\\"test_ids\\": [4, 5]}"') -> 'test_ids' AS doc, qbsync.to_jsonb_doc('"{bad"') AS baddoc,
             qbsync.to_text('"s"') AS s, qbsync.to_text('12') AS n, qbsync.to_text('{"o": 1}') AS o`);
    expect(r).to.deep.equal({
      num: 12, str: 12, frac: null, word: null, huge: null, obj: null, i: 7, ibig: null, t: true, f: false, one: true, maybe: null,
      ids: [1, 2, 3], empty: [], mixed: [1, 2, 3], badel: null, hugeel: null, notarr: null, nul: null,
      doc: [4, 5], baddoc: null, s: 's', n: '12', o: null,
    });
  });

  it('records a parse error with the raw value, and nothing for absent, null or empty values', async () => {
    const { rows: [r] } = await db.pool.query(`
      SELECT qbsync.bad('"13/45/2025"', true, 'a date') AS bad, qbsync.bad('"ok"', false, 'a date') AS ok,
             qbsync.bad(NULL, true, 'a date') AS absent, qbsync.bad('null', true, 'a date') AS jnull, qbsync.bad('""', true, 'a date') AS empty,
             qbsync.errors(jsonb_build_object('a', NULL::jsonb, 'b', qbsync.bad('[1]', true, 'x'))) AS errs,
             qbsync.errors(jsonb_build_object('a', NULL::jsonb)) AS clean`);
    expect(r).to.deep.equal({
      bad: { value: '13/45/2025', error: 'expected a date' }, ok: null, absent: null, jnull: null, empty: null,
      errs: { b: { value: [1], error: 'expected x' } }, clean: null,
    });
  });

  it('median, p95 (index rule) and count_le over sorted arrays', async () => {
    const cases: number[][] = [[], [5], [1, 2], [1, 2, 3], Array.from({ length: 20 }, (_, i) => i + 1), Array.from({ length: 101 }, (_, i) => i * 0.5)];
    for (const a of cases) {
      const { rows: [r] } = await db.pool.query(
        `SELECT qbsync.tat_median($1::float8[]) AS median, qbsync.tat_p95($1::float8[]) AS p95,
                qbsync.count_le($1::float8[], 2) AS le2, qbsync.count_le($1::float8[], 10.25) AS le10`,
        [a],
      );
      const n = a.length;
      expect(r.median).to.equal(n === 0 ? null : n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2);
      expect(r.p95).to.equal(n === 0 ? null : a[Math.max(0, Math.min(Math.floor(n * 0.95) - 1, n - 1))]);
      expect(r.le2).to.equal(a.filter((v) => v <= 2).length);
      expect(r.le10).to.equal(a.filter((v) => v <= 10.25).length);
    }
  });

  it('lab days follow the configured timezone, DST included', async () => {
    const client = await db.pool.connect();
    try {
      await client.query(`SET qbsync.timezone = 'America/New_York'`);
      await client.query(`SET TIME ZONE 'UTC'`);
      const { rows: [r] } = await client.query(
        `SELECT qbsync.lab_day('2026-03-08 04:59:00+00')::text AS before_midnight, qbsync.lab_day('2026-03-08 05:00:00+00')::text AS at_midnight,
                qbsync.day_start('2026-03-08')::text AS start_est, qbsync.day_start('2026-03-09')::text AS start_edt`,
      );
      expect(r).to.deep.equal({ before_midnight: '2026-03-07', at_midnight: '2026-03-08', start_est: '2026-03-08 05:00:00+00', start_edt: '2026-03-09 04:00:00+00' });
    } finally {
      client.release();
    }
  });
});
