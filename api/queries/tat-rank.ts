/**
 * Exact order statistics (the k-th smallest TAT) over the sorted TAT arrays of rollup rows, without unnesting them.
 *
 * A year at 1M tests holds ~700k TAT values: sorting them per request (percentile_disc over unnest) costs 150-200 ms.
 * Here the values stay in their sorted arrays and the k-th smallest is searched for by value: the count of values
 * <= x over a set of arrays is sum(width_bucket(x, arr)), a binary search in C per array, so one pass over the few
 * hundred inline arrays of a year (rollup_tat_*: months plus end days) answers any count in a few ms.
 *
 * QBench dates have minute resolution, so TAT values sit on a 1/60 h grid and the search brackets an integer minute
 * m: C(lo) < k <= C(hi) with C(m) = count of values <= (m + 0.5) / 60. A first pass counts at 32 minutes per group,
 * geometric between its smallest and largest value (TAT is right-skewed), shared by the group's targets; further
 * passes split each bracket still holding too many values (about 4,000 over all targets) at 7 even points. Then one
 * query reads the values of every bracket (array slices between two width_bucket positions) and the k-th is picked
 * from them exactly. Values off the minute grid (seconds) only make a bracket hold more values: the answer is exact
 * either way.
 */
import type pg from 'pg';

/** Rows (g text, arr float8[] sorted) to search; g groups the targets (e.g. a label). */
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
  target: number;
  group: number;
  k: number;
  /** Minutes: C(lo) < k <= C(hi), where C(m) counts values <= (m + 0.5) / 60. */
  lo: number;
  hi: number;
  cLo: number;
  cHi: number;
}

/** Probes per group in the first pass, and per target in the next ones. */
const GRID = 32;
const PROBES = 7;
/**
 * A bracket holding at most this many values is read whole (array slices) instead of narrowed further: about 4,000
 * values in all, shared by the targets (one pass narrows 8 ways and costs about what reading 4,000 values does).
 */
const fetchMax = (targets: number) => Math.min(2048, Math.max(64, Math.floor(4000 / targets)));
const at = (m: number) => (m + 0.5) / 60;

/** The next pass's probe minutes for a bracket: PROBES points evenly inside (lo, hi). */
function probesFor(b: Bracket): number[] {
  const span = b.hi - b.lo;
  return Array.from({ length: PROBES }, (_, i) => b.lo + Math.max(1, Math.floor((span * (i + 1)) / (PROBES + 1))));
}

/**
 * One pass: counts C(m) at each group's probe minutes (`perGroup`; probe j of every group is column x<j> of the
 * group's row: one hash join, then plain column reads per array; shorter lists are padded and never read), then
 * every bracket narrows with the probes `mine` gives it (its own slice of its group's list, or the whole list).
 */
async function pass(
  client: pg.PoolClient,
  source: ArraySource,
  n: number,
  groups: string[],
  perGroup: number[][],
  brackets: Bracket[],
  mine: (b: Bracket) => number[],
  ownSlice: boolean,
): Promise<void> {
  const width = Math.max(...perGroup.map((p) => p.length));
  const columns = Array.from({ length: width }, (_, j) => perGroup.map((p) => (p[j] == null ? 0 : at(p[j]))));
  const xs = columns.map((_, j) => `$${n + 2 + j}::float8[]`).join(', ');
  const names = columns.map((_, j) => `x${j}`).join(', ');
  const perArray = columns.map((_, j) => `width_bucket(p.x${j}, s.arr) AS c${j}`).join(', ');
  const sums = columns.map((_, j) => `sum(c${j})::bigint`).join(', ');
  const { rows } = await client.query<{ gi: number; c: string[] }>(
    // The counts are taken per array in a subquery kept apart (OFFSET 0), so the grouping sorts or hashes small
    // integer rows, never the arrays (a sort of the joined rows spilled their 8 kB arrays to disk: 4x slower).
    `SELECT gi, ARRAY[${sums}] AS c
     FROM (SELECT p.gi, ${perArray}
           FROM unnest($${n + 1}::text[], ${xs}) WITH ORDINALITY AS p(g, ${names}, gi)
           JOIN (${source.sql}) s ON s.g = p.g OFFSET 0) q
     GROUP BY gi`,
    [...source.params, groups, ...columns],
  );
  const counts = new Map(rows.map((r) => [Number(r.gi), r.c.map(Number)]));
  const offsets = new Map<number, number>();
  for (const b of brackets) {
    const probes = mine(b);
    const offset = ownSlice ? offsets.get(b.group) ?? 0 : 0;
    offsets.set(b.group, offset + probes.length);
    const c = counts.get(b.group) ?? [];
    probes.forEach((m, i) => {
      const cm = c[offset + i] ?? 0;
      if (cm >= b.k && m < b.hi && m > b.lo) {
        b.hi = m;
        b.cHi = cm;
      } else if (cm < b.k && m > b.lo && m < b.hi) {
        b.lo = m;
        b.cLo = cm;
      }
    });
  }
}

/**
 * The k-th smallest value of each target's group (targets whose k is outside [1, n] get null). `bounds` gives, per
 * group, the number of values and the smallest and largest (from the rollup rows: arr[1], arr[cardinality]).
 */
export async function kthValues(
  pool: pg.Pool,
  source: ArraySource,
  targets: RankTarget[],
  bounds: Map<string, { n: number; min: number; max: number }>,
): Promise<Array<number | null>> {
  // Only the groups of targets with a rank to find (k within [1, n] of a group that has values) are searched.
  const searched = (t: RankTarget) => {
    const b = bounds.get(t.group);
    return b !== undefined && t.k >= 1 && t.k <= b.n;
  };
  const groups = [...new Set(targets.filter(searched).map((t) => t.group))];
  const gIndex = new Map(groups.map((g, i) => [g, i + 1]));
  const out: Array<number | null> = targets.map(() => null);
  const brackets: Bracket[] = [];
  targets.forEach((t, target) => {
    if (!searched(t)) return;
    const b = bounds.get(t.group)!;
    const lo = Math.floor(b.min * 60) - 1;
    const hi = Math.ceil(b.max * 60) + 1;
    brackets.push({ target, group: gIndex.get(t.group)!, k: t.k, lo, hi, cLo: 0, cHi: b.n });
  });
  if (!brackets.length) return out;
  const n = source.params.length;
  const client = await pool.connect();
  try {
    // First pass: one grid per group shared by its targets, geometric between its smallest and largest value (TAT
    // is right-skewed: most values sit low, a few run to weeks), so every bracket ends one narrow cell wide.
    const grids = groups.map((g) => {
      const b = bounds.get(g)!;
      const lo = Math.floor(b.min * 60) - 1;
      const hi = Math.ceil(b.max * 60) + 1;
      // lo + x for x geometric in (0, hi - lo): fine steps just above the smallest value, wide ones in the tail.
      const ratio = Math.pow(hi - lo, 1 / (GRID + 1));
      return Array.from({ length: GRID }, (_, i) => lo + Math.round(Math.pow(ratio, i + 1)));
    });
    await pass(client, source, n, groups, grids, brackets, (b) => grids[b.group - 1], false);
    for (;;) {
      const open = brackets.filter((b) => b.hi - b.lo > 1 && b.cHi - b.cLo > fetchMax(brackets.length));
      if (!open.length) break;
      const probes = new Map(open.map((b) => [b, probesFor(b)]));
      // Per group, the probe minutes of its open brackets, each bracket reading back only its own.
      const perGroup = groups.map((_, gi) => open.flatMap((b) => (b.group === gi + 1 ? probes.get(b)! : [])));
      await pass(client, source, n, groups, perGroup, open, (b) => probes.get(b)!, true);
    }
    // The values in each target's bracket (lo, hi], sorted; the k-th overall is the (k - cLo)-th of them.
    const { rows } = await client.query<{ i: number; v: number[] }>(
      `SELECT i, array_agg(v ORDER BY v) AS v
       FROM (SELECT t.i, v
             FROM unnest($${n + 1}::text[], $${n + 2}::float8[], $${n + 3}::float8[]) WITH ORDINALITY AS t(g, lo, hi, i)
             JOIN (${source.sql}) s ON s.g = t.g
             CROSS JOIN LATERAL unnest(s.arr[width_bucket(t.lo, s.arr) + 1 : width_bucket(t.hi, s.arr)]) AS v
             OFFSET 0) q
       GROUP BY i`,
      [...source.params, brackets.map((b) => groups[b.group - 1]), brackets.map((b) => at(b.lo)), brackets.map((b) => at(b.hi))],
    );
    const values = new Map(rows.map((r) => [Number(r.i), r.v.map(Number)]));
    brackets.forEach((b, i) => {
      out[b.target] = values.get(i + 1)?.[b.k - b.cLo - 1] ?? null;
    });
    return out;
  } finally {
    client.release();
  }
}
