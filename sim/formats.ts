// QBench v1 date strings. QBench renders dates in UTC (see qbench-api.md §4), as "MM/DD/YYYY hh:mm AM/PM",
// date-only "MM/DD/YYYY" for a few fields (order date_order_reported), and last_updated as a string of unix
// seconds. Times inside the simulator are plain unix seconds; these helpers are the only place they become text.

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** "MM/DD/YYYY hh:mm AM/PM" in UTC. */
export function qbDateTime(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const h24 = d.getUTCHours();
  const h12 = h24 % 12 === 0 ? 12 : h24 % 12;
  const ampm = h24 < 12 ? 'AM' : 'PM';
  return `${pad2(d.getUTCMonth() + 1)}/${pad2(d.getUTCDate())}/${d.getUTCFullYear()} ${pad2(h12)}:${pad2(d.getUTCMinutes())} ${ampm}`;
}

/** "MM/DD/YYYY" in UTC. */
export function qbDate(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  return `${pad2(d.getUTCMonth() + 1)}/${pad2(d.getUTCDate())}/${d.getUTCFullYear()}`;
}

/** "MMDDYY", used inside formatted ids such as ORD-101325-3335. */
export function mmddyy(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  return `${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())}${pad2(d.getUTCFullYear() % 100)}`;
}

/** last_updated is a string of unix seconds in v1 payloads. */
export function unixString(unixSeconds: number): string {
  return String(Math.floor(unixSeconds));
}

/** Nullable helpers: 0 means "not happened (yet)" throughout the simulator's columns. */
export function qbDateTimeOrNull(unixSeconds: number, now: number): string | null {
  return unixSeconds > 0 && unixSeconds <= now ? qbDateTime(unixSeconds) : null;
}

export function qbDateOrNull(unixSeconds: number, now: number): string | null {
  return unixSeconds > 0 && unixSeconds <= now ? qbDate(unixSeconds) : null;
}

/** Parses "MM/DD/YYYY hh:mm AM/PM" or "MM/DD/YYYY" (UTC) back to unix seconds; tests use it. */
export function parseQbDate(text: string): number {
  const m = /^(\d{2})\/(\d{2})\/(\d{4})(?: (\d{2}):(\d{2}) (AM|PM))?$/.exec(text);
  if (!m) throw new Error(`not a QBench date: ${text}`);
  let hour = m[4] ? Number(m[4]) % 12 : 0;
  if (m[6] === 'PM') hour += 12;
  return Date.UTC(Number(m[3]), Number(m[1]) - 1, Number(m[2]), hour, m[5] ? Number(m[5]) : 0) / 1000;
}
