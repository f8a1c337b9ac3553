/**
 * The exact order statistics of api/queries/tat-rank.ts against a plain sort in TypeScript, over arrays shaped
 * like the rollups' (sorted parts, many groups), including the cases the minute grid does not cover (values with
 * seconds, negative values, ties, one-value groups, the first and last rank); and the range helpers it relies on.
 */
import { expect } from 'chai';
import { kthValues } from '../../api/queries/tat-rank.js';
import { monthSplit, nextDown } from '../../api/queries/metrics.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

/** Deterministic PRNG (mulberry32), so a failure names a reproducible case. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('api: exact TAT ranks over sorted rollup arrays', function () {
  this.timeout(60_000);
  let db: TestDatabase;

  before(async () => {
    db = await createTestDatabase({ empty: true });
    await db.pool.query('CREATE TABLE arrays (g text NOT NULL, arr float8[] NOT NULL)');
  });
  after(async () => db?.drop());

  async function load(groups: Map<string, number[]>, partSize: number): Promise<void> {
    await db.pool.query('TRUNCATE arrays');
    for (const [g, values] of groups) {
      // Rows like the rollups': the group's values in several "days", each sorted and cut into parts.
      const days = Math.max(1, Math.floor(values.length / 37));
      for (let d = 0; d < days; d++) {
        const day = values.filter((_, i) => i % days === d).sort((a, b) => a - b);
        for (let p = 0; p < day.length; p += partSize) await db.pool.query('INSERT INTO arrays VALUES ($1, $2)', [g, day.slice(p, p + partSize)]);
      }
    }
  }

  async function check(groups: Map<string, number[]>, partSize: number, what: string): Promise<void> {
    await load(groups, partSize);
    const targets = [...groups].flatMap(([group, v]) => {
      const n = v.length;
      return [...new Set([1, Math.ceil(n / 2), Math.floor(n / 2) + 1, Math.max(1, Math.floor(n * 0.95)), n].filter((k) => k >= 1 && k <= n))].map((k) => ({ group, k }));
    });
    targets.push({ group: [...groups.keys()][0], k: 0 }, { group: 'missing', k: 1 });
    const bounds = new Map([...groups].map(([g, v]) => [g, { n: v.length, min: Math.min(...v), max: Math.max(...v) }]));
    const got = await kthValues(db.pool, { sql: 'SELECT g, arr FROM arrays', params: [] }, targets, bounds);
    targets.forEach((t, i) => {
      const sorted = [...(groups.get(t.group) ?? [])].sort((a, b) => a - b);
      const want = t.k >= 1 && t.k <= sorted.length ? sorted[t.k - 1] : null;
      expect(got[i], `${what}: group ${t.group} k=${t.k} of ${sorted.length}`).to.equal(want);
    });
  }

  it('equals a sort for minute-resolution TATs in 16 skewed groups (ties, long tails)', async () => {
    const rnd = prng(7);
    const groups = new Map<string, number[]>();
    for (let g = 0; g < 16; g++) {
      const n = 1 + Math.floor(rnd() * (g === 0 ? 1 : 3000));
      groups.set(`L${g}`, Array.from({ length: n }, () => Math.round(rnd() * rnd() * rnd() * 1200 * 60) / 60));
    }
    await check(groups, 200, 'minutes');
  });

  it('equals a sort for values off the minute grid, negative values and heavy ties', async () => {
    const rnd = prng(11);
    const groups = new Map<string, number[]>([
      ['seconds', Array.from({ length: 2500 }, () => Math.round(rnd() * 90 * 3600) / 3600)],
      ['negative', Array.from({ length: 700 }, () => (rnd() - 0.3) * 50)],
      ['ties', Array.from({ length: 3000 }, () => [24, 48, 48.5, 72][Math.floor(rnd() * 4)])],
      ['one', [5.25]],
    ]);
    await check(groups, 960, 'off grid');
  });

  it('monthSplit: whole months plus the end days, open ends, short ranges', () => {
    expect(monthSplit('2025-11-20', '2026-11-19')).to.deep.equal({ months: ['2025-12-01', '2026-11-01'], days: [['2025-11-20', '2025-11-30'], ['2026-11-01', '2026-11-19']] });
    expect(monthSplit('2026-01-01', '2026-03-31')).to.deep.equal({ months: ['2026-01-01', '2026-04-01'], days: [] });
    expect(monthSplit('2026-02-03', '2026-02-20')).to.deep.equal({ months: null, days: [['2026-02-03', '2026-02-20']] });
    expect(monthSplit('2026-02-03', '2026-03-02')).to.deep.equal({ months: null, days: [['2026-02-03', '2026-03-02']] });
    expect(monthSplit(null, '2026-02-27')).to.deep.equal({ months: [null, '2026-02-01'], days: [['2026-02-01', '2026-02-27']] });
    expect(monthSplit('2024-02-29', null)).to.deep.equal({ months: ['2024-03-01', null], days: [['2024-02-29', '2024-02-29']] });
    expect(monthSplit(null, null)).to.deep.equal({ months: [null, null], days: [] });
  });

  it('nextDown: the largest float8 below x (so "< x" is "<= nextDown(x)")', () => {
    for (const x of [0, 24, 48, 72, 168, 0.1, -3]) {
      const d = nextDown(x);
      expect(d).to.be.below(x);
      expect((d + x) / 2 === d || (d + x) / 2 === x, `nothing between nextDown(${x}) and ${x}`).to.equal(true);
    }
  });
});
