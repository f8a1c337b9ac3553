/**
 * Date ranges with the downloader's rule (qbench-api.md §7): `>= date_from`; a `date_to` of exactly midnight
 * means `< date_to + 1 day`, any other `date_to` means `<= date_to`. Midnight is read in the lab timezone
 * (QBSYNC_TIMEZONE, default UTC; QBench's own strings are UTC). A date-only value (2025-01-31) is that day's
 * midnight in the lab timezone; a date-time without an offset is lab-local; one with Z or ±hh:mm is absolute.
 *
 * A range whose ends are both midnight (or open) is "day aligned": it covers whole lab days [fromDay, toDay],
 * which is what the daily rollups can answer. Any other range falls back to the typed rows.
 */
import { badRequest } from '../http.js';

export interface Local {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  ms: number;
}

export interface Instant {
  instant: Date;
  local: Local;
}

export interface Range {
  lo: Date | null;
  hi: Date | null;
  /** `<= hi` (date_to not midnight) rather than `< hi`. */
  hiInclusive: boolean;
  /** Whole lab days covered (inclusive), when aligned. */
  fromDay: string | null;
  toDay: string | null;
  aligned: boolean;
  /** The given ends, for echoing (range_start / range_end). */
  from: Instant | null;
  to: Instant | null;
}

const fmtCache = new Map<string, Intl.DateTimeFormat>();
function fmt(tz: string): Intl.DateTimeFormat {
  let f = fmtCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    fmtCache.set(tz, f);
  }
  return f;
}

export function localParts(t: Date, tz: string): Local {
  const p: Record<string, number> = {};
  for (const part of fmt(tz).formatToParts(t)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return { y: p.year, mo: p.month, d: p.day, h: p.hour % 24, mi: p.minute, s: p.second, ms: t.getUTCMilliseconds() };
}

const asUtc = (l: Local) => Date.UTC(l.y, l.mo - 1, l.d, l.h, l.mi, l.s, l.ms);

/** The instant at which the lab clock shows `l` (the later one in a DST gap/overlap ambiguity is resolved like Postgres: first match). */
export function zonedToUtc(l: Local, tz: string): Date {
  const guess = asUtc(l);
  const offset = (t: number) => asUtc(localParts(new Date(t), tz)) - t;
  const o1 = offset(guess);
  let t = guess - o1;
  const o2 = offset(t);
  if (o2 !== o1) t = guess - o2;
  return new Date(t);
}

export function addDays(l: Local, n: number): Local {
  const t = new Date(Date.UTC(l.y, l.mo - 1, l.d + n, l.h, l.mi, l.s, l.ms));
  return { y: t.getUTCFullYear(), mo: t.getUTCMonth() + 1, d: t.getUTCDate(), h: t.getUTCHours(), mi: t.getUTCMinutes(), s: t.getUTCSeconds(), ms: t.getUTCMilliseconds() };
}

export const isMidnight = (l: Local) => l.h === 0 && l.mi === 0 && l.s === 0 && l.ms === 0;
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
export const dayString = (l: Local) => `${pad(l.y, 4)}-${pad(l.mo)}-${pad(l.d)}`;
export const localDayOf = (t: Date, tz: string) => dayString(localParts(t, tz));

/** Whole days between two local dates (b - a). */
export const dayDiff = (a: Local, b: Local) => Math.round((Date.UTC(b.y, b.mo - 1, b.d) - Date.UTC(a.y, a.mo - 1, a.d)) / 86_400_000);

export const DATE_PARAM_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** Parses a date parameter (already matched by the schema's pattern); 400 naming it when it is not a real date. */
export function parseDateParam(name: string, value: string, tz: string): Instant {
  const m = DATE_PARAM_RE.exec(value.trim());
  const bad = () => badRequest([{ parameter: name, in: 'query', rule: 'format', message: 'must be a real date like 2025-01-31 or 2025-01-31T08:00:00Z' }]);
  if (!m) throw bad();
  const l: Local = { y: +m[1], mo: +m[2], d: +m[3], h: +(m[4] ?? 0), mi: +(m[5] ?? 0), s: +(m[6] ?? 0), ms: m[7] ? +m[7].padEnd(3, '0') : 0 };
  const check = new Date(asUtc(l));
  if (l.y < 1900 || l.y > 2200 || check.getUTCMonth() + 1 !== l.mo || check.getUTCDate() !== l.d || l.h > 23 || l.mi > 59 || l.s > 59) throw bad();
  if (m[8] && m[4] === undefined) throw bad();
  if (m[8]) {
    const sign = m[8] === 'Z' ? 0 : m[8][0] === '-' ? -1 : 1;
    const digits = m[8].replace(/[^0-9]/g, '');
    const offMin = m[8] === 'Z' ? 0 : sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)));
    if (Math.abs(offMin) > 18 * 60) throw bad();
    const instant = new Date(asUtc(l) - offMin * 60_000);
    return { instant, local: localParts(instant, tz) };
  }
  return { instant: zonedToUtc(l, tz), local: l };
}

export function rangeOf(from: Instant | null, to: Instant | null, tz: string, names: [string, string] = ['date_from', 'date_to']): Range {
  let aligned = true;
  let fromDay: string | null = null;
  let toDay: string | null = null;
  let hi: Date | null = null;
  let hiInclusive = false;
  if (from) {
    if (isMidnight(from.local)) fromDay = dayString(from.local);
    else aligned = false;
  }
  if (to) {
    if (isMidnight(to.local)) {
      hi = zonedToUtc(addDays(to.local, 1), tz);
      toDay = dayString(to.local);
    } else {
      hi = to.instant;
      hiInclusive = true;
      aligned = false;
    }
  }
  const lo = from?.instant ?? null;
  if (lo && to && (hiInclusive ? lo > hi! : lo >= hi!)) {
    throw badRequest([{ parameter: names[1], in: 'query', rule: 'range', message: `must not be before ${names[0]}` }]);
  }
  return { lo, hi, hiInclusive, fromDay, toDay, aligned, from, to };
}

/** Range from query parameters (names default to date_from/date_to). */
export function rangeFromQuery(q: Record<string, any>, tz: string, names: [string, string] = ['date_from', 'date_to']): Range {
  const from = q[names[0]] != null ? parseDateParam(names[0], String(q[names[0]]), tz) : null;
  const to = q[names[1]] != null ? parseDateParam(names[1], String(q[names[1]]), tz) : null;
  return rangeOf(from, to, tz, names);
}

/**
 * The matching previous period (downloader): as many days as the current one (by calendar date of the ends),
 * ending the day before date_from (same time of day), the range rule applied again.
 */
export function previousRange(r: Range, tz: string): Range | null {
  if (!r.from || !r.to) return null;
  const span = dayDiff(r.from.local, r.to.local) + 1;
  const prevEnd = addDays(r.from.local, -1);
  const prevStart = addDays(prevEnd, -(span - 1));
  const mk = (l: Local): Instant => ({ instant: zonedToUtc(l, tz), local: l });
  return rangeOf(mk(prevStart), mk(prevEnd), tz);
}

/** Small builder for parameterised SQL: values become $n, only fixed fragments are text. */
export class Sql {
  readonly params: unknown[] = [];
  p(v: unknown): string {
    this.params.push(v);
    return `$${this.params.length}`;
  }
  /** `col >= lo AND col </<= hi` for a timestamp column (nothing for open ends). */
  range(col: string, r: Range): string[] {
    const out: string[] = [];
    if (r.lo) out.push(`${col} >= ${this.p(r.lo)}::timestamptz`);
    if (r.hi) out.push(`${col} ${r.hiInclusive ? '<=' : '<'} ${this.p(r.hi)}::timestamptz`);
    return out;
  }
  /** `day BETWEEN fromDay AND toDay` for a rollup day column (aligned ranges only). */
  days(col: string, r: Range): string[] {
    const out: string[] = [];
    if (r.fromDay) out.push(`${col} >= ${this.p(r.fromDay)}::date`);
    if (r.toDay) out.push(`${col} <= ${this.p(r.toDay)}::date`);
    return out;
  }
}

export const where = (conds: string[]) => (conds.length ? `WHERE ${conds.join(' AND ')}` : '');
