/**
 * Exact order statistics (the k-th smallest TAT) over the sorted TAT arrays of rollup rows, without unnesting them.
 *
 * A year at 1M tests holds ~700k TAT values: sorting them per request (percentile_disc over unnest) costs 150-200 ms.
 * Here the values stay in their sorted arrays and the k-th smallest is searched for by value: the count of values
 * <= x over a set of arrays is sum(width_bucket(x, arr)), a binary search in C per array, so one pass over a few
 * thousand inline arrays (rollup_tat_*: parts of at most 200 values) answers any count in 1-3 ms.
 *
 * QBench dates have minute resolution, so TAT values sit on a 1/60 h grid: the search narrows an integer minute m
 * with C((m + 0.5) / 60) >= k (each pass probes 3 points per target, quartering the interval), then one last pass
 * reads the values of that minute (array slices between two width_bucket positions) and picks the k-th exactly.
 * Values off the grid (seconds) only make that last slice longer: the answer is exact either way.
 */
import type pg from 'pg';

/** Rows (g text, arr float8[] sorted) to search; g groups the targets (e.g. a label), '' when there is one group. */
export interface ArraySource {
  sql: string;
  params: unknown[];
}

export interface RankTarget {
  group: string;
  /** 1-based rank among the group's values. */
  k: number;
}

interface Bracket {
  group: number;
  k: number;
  /** Minutes: C(lo) < k <= C(hi), where C(m) counts values <= (m + 0.5) / 60. */
  lo: number;
  hi: number;
  cLo: number;
}

const PROBES = 3;
const at = (m: number) => (m + 0.5) / 60;

/**
 * The k-th smallest value of each target's group (targets whose k is outside [1, n] get null). `bounds` gives, per
 * group, the number of values and the smallest and largest (from the rollup rows: arr[1], arr[cardinality]).
 */
export async function kthValues(
  client: pg.Pool | pg.PoolClient,
  source: ArraySource,
  targets: RankTarget[],
  bounds: Map<string, { n: number; min: number; max: number }>,
): Promise<Array<number | null>> {
  const groups = [...new Set(targets.map((t) => t.group))];
  const gIndex = new Map(groups.map((g, i) => [g, i + 1]));
  const out: Array<number | null> = targets.map(() => null);
  const brackets: Array<Bracket | null> = targets.map((t) => {
    const b = bounds.get(t.group);
    if (!b || t.k < 1 || t.k > b.n) return null;
    return { group: gIndex.get(t.group)!, k: t.k, lo: Math.floor(b.min * 60) - 1, hi: Math.ceil(b.max * 60) + 1, cLo: 0 };
  });
  const live = () => brackets.filter((b): b is Bracket => b !== null);
  if (!live().length) return out;
  const n = source.params.length;
  // One pass: for every open bracket, PROBES points; per row, width_bucket against its own group's points only.
  while (live().some((b) => b.hi - b.lo > 1)) {
    const open = live().filter((b) => b.hi - b.lo > 1);
    const probes = open.map((b) => Array.from({ length: PROBES }, (_, i) => b.lo + Math.max(1, Math.floor(((b.hi - b.lo) * (i + 1)) / (PROBES + 1)))));
    // Per group, the probe values of its open brackets, flattened: [group][j] (padded with +Infinity-free repeats).
    const perGroup = groups.map((_, gi) => open.flatMap((b, bi) => (b.group === gi + 1 ? probes[bi].map(at) : [])));
    const width = Math.max(...perGroup.map((p) => p.length));
    if (width === 0) break;
    const matrix = perGroup.map((p) => Array.from({ length: width }, (_, j) => p[j] ?? 0));
    const sums = Array.from({ length: width }, (_, j) => `sum(width_bucket(($${n + 2}::float8[])[gi][${j + 1}], s.arr))::bigint`).join(', ');
    const { rows } = await client.query<{ gi: number; c: string[] }>(
      `SELECT gi, ARRAY[${sums}] AS c
       FROM (SELECT array_position($${n + 1}::text[], s.g) AS gi, s.arr FROM (${source.sql}) s) s
       WHERE gi IS NOT NULL GROUP BY gi`,
      [...source.params, groups, matrix],
    );
    const counts = new Map(rows.map((r) => [Number(r.gi), r.c.map(Number)]));
    const seen = new Map<number, number>();
    open.forEach((b, bi) => {
      const offset = seen.get(b.group) ?? 0;
      seen.set(b.group, offset + PROBES);
      const c = counts.get(b.group) ?? [];
      for (let i = 0; i < PROBES; i++) {
        const m = probes[bi][i];
        const cm = c[offset + i] ?? 0;
        if (cm >= b.k) {
          if (m < b.hi) b.hi = m;
        } else if (m > b.lo) {
          b.lo = m;
          b.cLo = cm;
        }
      }
    });
  }
  // The values of each target's minute (lo, hi], sorted; the k-th overall is the (k - cLo)-th of them.
  const found = live();
  const { rows } = await client.query<{ i: number; v: number[] }>(
    `SELECT t.i, array_agg(v ORDER BY v) AS v
     FROM unnest($${n + 1}::text[], $${n + 2}::float8[], $${n + 3}::float8[]) WITH ORDINALITY AS t(g, lo, hi, i)
     JOIN (${source.sql}) s ON s.g = t.g
     CROSS JOIN LATERAL unnest(s.arr[width_bucket(t.lo, s.arr) + 1 : width_bucket(t.hi, s.arr)]) AS v
     GROUP BY t.i`,
    [...source.params, found.map((b) => groups[b.group - 1]), found.map((b) => at(b.lo)), found.map((b) => at(b.hi))],
  );
  const values = new Map(rows.map((r) => [Number(r.i), r.v.map(Number)]));
  let fi = 0;
  brackets.forEach((b, ti) => {
    if (!b) return;
    fi++;
    const v = values.get(fi) ?? [];
    out[ti] = v[b.k - b.cLo - 1] ?? null;
  });
  return out;
}
