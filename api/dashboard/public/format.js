// Formatting and lab-day arithmetic. Days are 'YYYY-MM-DD' strings in the lab's time zone (the API's
// QBSYNC_TIMEZONE); instants are shown in the browser's own time zone.

const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const oneFmt = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const pctFmt = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 0 });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

/** @param {number|null|undefined} n */
export const fmtInt = (n) => (n == null || Number.isNaN(Number(n)) ? '–' : intFmt.format(Number(n)));
/** @param {number|null|undefined} h */
export const fmtHours = (h) => (h == null || Number.isNaN(Number(h)) ? '–' : `${oneFmt.format(Number(h))} h`);
/** @param {number|null|undefined} r a ratio 0..1 */
export const fmtPct = (r) => (r == null || !Number.isFinite(Number(r)) ? '–' : pctFmt.format(Number(r)));

/** @param {string|null|undefined} iso */
export function fmtDateTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateTimeFmt.format(d);
}

/** @param {string|null|undefined} iso */
export function fmtDate(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateFmt.format(d);
}

/** "3 min ago" for an instant. @param {string|null|undefined} iso @param {number} [now] */
export function fmtAgo(iso, now = Date.now()) {
  if (!iso) return '';
  const s = Math.round((now - new Date(iso).getTime()) / 1000);
  if (!Number.isFinite(s)) return '';
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.round(h / 24)} days ago`;
}

/** Duration in ms → "1.2 s" / "3 min 5 s". @param {number|null|undefined} ms */
export function fmtDuration(ms) {
  if (ms == null) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${oneFmt.format(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;
/** @param {unknown} s @returns {s is string} */
export const isDay = (s) => typeof s === 'string' && DAY_RE.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`));

/** @param {string} day @param {number} n */
export function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** Whole days from a to b (b - a). @param {string} a @param {string} b */
export const dayDiff = (a, b) => Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000);

/** Every day from..to inclusive. @param {string} from @param {string} to */
export function daysBetween(from, to) {
  const out = [];
  for (let d = from; d <= to && out.length < 3700; d = addDays(d, 1)) out.push(d);
  return out;
}

/** The lab day of an instant. @param {Date|string|number} t @param {string} tz */
export function dayInTz(t, tz) {
  const d = t instanceof Date ? t : new Date(t);
  try {
    return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
  } catch {
    return d.toISOString().slice(0, 10);
  }
}

/** Short day label for chart axes ("Nov 14"). @param {string} day */
export function shortDay(day) {
  const d = new Date(`${day}T00:00:00Z`);
  return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
}

/** "state" → "State" for display; null → "unknown". @param {string|null|undefined} s */
export const fmtState = (s) => (s == null || s === '' ? 'unknown' : String(s));
