// The simulated lab's state: the generated columns, the simulated now, and everything that changes them.
// Time moves only through advance(): it creates the interval's new records, applies a few forced changes
// (an old held test released and reported, a deletion, customer edits), then replays every planned event that
// falls inside the interval (tests starting, completing, being reported; batches and reports appearing) and
// bumps last_updated of each record an event touches. The same code replays all history at start, so a
// record's last_updated is always the time of its latest change, never an arbitrary stamp.

import { ASSAYS } from './catalog.js';
import {
  addCustomer,
  eligibleCustomers,
  generateBase,
  pickCustomer,
  planOrder,
  BusinessTime,
  SIZE_SPECS,
  slotHoursFor,
  type BaseWorld,
} from './generator.js';
import { happened, recomputeOrder, recomputeSample, type Lab } from './lifecycle.js';
import { Rng, mix32 } from './prng.js';
import {
  BatchTable,
  CustomerTable,
  END_CANCELLED,
  END_REPORTED,
  FLAG_UNBATCHED,
  OrderTable,
  ReportTable,
  SampleTable,
  TestTable,
} from './tables.js';
import type { AdvanceResult, SimEntity, SimSize } from './types.js';

const HOUR = 3600;
const DAY = 86400;
/** Multiplier that packs (time offset, id) into one exactly representable float for cheap typed-array sorts. */
const ID_SPACE = 2 ** 24;

/** Assays exist from before the history starts and never change. */
export const ASSAY_COUNT = ASSAYS.length;

export class Store implements Lab {
  readonly seed: number;
  readonly size: SimSize;
  readonly customers = new CustomerTable();
  readonly orders = new OrderTable();
  readonly samples = new SampleTable();
  readonly tests = new TestTable();
  readonly batches = new BatchTable();
  readonly reports = new ReportTable();
  lastSampleCreated = 0;
  readonly slots: readonly number[];
  /** Simulated now, unix seconds. */
  now: number;
  /** Bumped on every mutation; list caches key on it. */
  version = 0;
  readonly base: BaseWorld;
  /** Origin for packed sort keys (all event times are after it). */
  readonly keyOrigin: number;
  readonly assayCreated: number;
  private advances = 0;

  constructor(size: SimSize, seed: number, nowSeconds: number) {
    this.seed = seed;
    this.size = size;
    this.now = nowSeconds;
    this.slots = slotHoursFor(size);
    this.base = generateBase(this, size, nowSeconds);
    // Below every stored time (legacy customers were last edited up to 400 days before the span, assays 500).
    this.keyOrigin = this.base.spanStart - 600 * DAY;
    this.assayCreated = this.base.spanStart - 500 * DAY;
    this.applyEvents(0, nowSeconds);
  }

  // ---------------------------------------------------------------------------------------------- queries

  count(entity: SimEntity): number {
    switch (entity) {
      case 'customer':
        return this.customers.n;
      case 'order':
        return this.orders.n;
      case 'sample':
        return this.samples.n;
      case 'test':
        return this.tests.n;
      case 'batch':
        return this.batches.n;
      case 'assay':
        return ASSAY_COUNT;
      case 'report':
        return this.reports.n;
    }
  }

  /** Deletion time column, for the entities QBench lets a lab delete here (orders, samples, tests). */
  deletedColumn(entity: SimEntity): Uint32Array | undefined {
    return entity === 'order' ? this.orders.deleted : entity === 'sample' ? this.samples.deleted : entity === 'test' ? this.tests.deleted : undefined;
  }

  isDeleted(entity: SimEntity, id: number): boolean {
    const col = this.deletedColumn(entity);
    return col !== undefined && happened(col[id], this.now);
  }

  exists(entity: SimEntity, id: number): boolean {
    return Number.isInteger(id) && id >= 1 && id <= this.count(entity);
  }

  createdAt(entity: SimEntity, id: number): number {
    switch (entity) {
      case 'customer':
        return this.customers.created[id];
      case 'order':
        return this.orders.created[id];
      case 'sample':
        return this.samples.created[id];
      case 'test':
        return this.samples.created[this.tests.sample[id]];
      case 'batch':
        return this.batches.created[id];
      case 'assay':
        return this.assayCreated + id * 60;
      case 'report':
        return this.reports.created[id];
    }
  }

  lastUpdatedAt(entity: SimEntity, id: number): number {
    switch (entity) {
      case 'customer':
        return this.customers.lastUpdated[id];
      case 'order':
        return this.orders.lastUpdated[id];
      case 'sample':
        return this.samples.lastUpdated[id];
      case 'test':
        return this.tests.lastUpdated[id];
      case 'batch':
        return this.batches.lastUpdated[id];
      case 'assay':
        return this.assayCreated + id * 60;
      case 'report':
        return this.reports.created[id];
    }
  }

  /** Packs a time and an id into one sortable number (see ID_SPACE). */
  sortKey(time: number, id: number): number {
    return Math.max(0, time - this.keyOrigin) * ID_SPACE + id;
  }

  // ---------------------------------------------------------------------------------------------- advance

  advance(hours: number): AdvanceResult {
    if (!Number.isFinite(hours) || hours < 0) throw new RangeError(`advance(hours): hours must be a finite number >= 0, got ${hours}`);
    const from = this.now;
    const to = from + Math.round(hours * HOUR);
    if (to === from) return { created: 0, updated: 0, deleted: 0 };
    const rng = new Rng(mix32(this.seed, 0xadd, ++this.advances));
    const before = {
      customer: this.customers.n,
      order: this.orders.n,
      sample: this.samples.n,
      test: this.tests.n,
      batch: this.batches.n,
      report: this.reports.n,
    };
    // A call of an hour or more always produces each kind of change at least once, however small the lab,
    // so tests and demos can rely on seeing new, changed and deleted records after any real advance.
    const guarantee = to - from >= HOUR;
    this.createInterval(rng, from, to, guarantee);
    if (guarantee) {
      this.releaseOldHeldTest(rng, from, to, before.test);
      this.deleteUnstartedTest(rng, from, to, before.test);
      this.editCustomers(rng, from, to, before.customer);
    }
    this.applyEvents(from, to);
    this.now = to;
    this.version++;
    return this.countChanges(from, to, before);
  }

  /** New customers and orders (with samples and tests) created inside (from, to], at the end-of-history rate. */
  private createInterval(rng: Rng, from: number, to: number, atLeastOneOrder: boolean): void {
    const prevCustomers = this.customers.n;
    const newCustomerCount = rng.poisson((this.base.customerRate * (to - from)) / DAY);
    const customerTimes = sortedUniform(rng, newCustomerCount, from + 1, to);
    for (const t of customerTimes) addCustomer(this, rng, t, t);

    // Orders need room for their samples (created up to 8 x 20 s after the order) inside the interval.
    const latest = to - 200;
    if (latest <= from) return;
    const business = new BusinessTime(from + 1, latest);
    let count = rng.poisson(this.base.orderRate * business.total);
    if (count === 0 && atLeastOneOrder) count = 1;
    const times =
      business.total > 0
        ? sortedUniform(rng, count, 0, business.total).map((o) => business.at(o))
        : sortedUniform(rng, count, from + 1, latest);
    let last = Math.max(from, this.orders.n ? this.orders.created[this.orders.n] : 0);
    for (const raw of times) {
      // Samples take strictly increasing seconds; stop before they would spill past the interval's end.
      if (this.lastSampleCreated + 8 * 20 >= to) break;
      const t = Math.min(latest, Math.max(last + 1, raw));
      last = t;
      const eligible = eligibleCustomers(this, t, prevCustomers);
      planOrder(this, rng, t, pickCustomer(this, rng, eligible));
    }
  }

  /**
   * A test that has sat ON HOLD for at least a week is released and reported inside the interval: the
   * "old record changes" case a window-by-date_created sync misses. Its sample and order complete with it.
   */
  private releaseOldHeldTest(rng: Rng, from: number, to: number, existingTests: number): void {
    const { tests, samples } = this;
    const old: number[] = [];
    const any: number[] = [];
    for (let t = 1; t <= existingTests; t++) {
      // On hold now and not planned to start; a planned later cancellation is overridden by the release.
      const hold = tests.hold[t];
      if (!hold || hold > from || tests.start[t] || tests.deleted[t]) continue;
      if (tests.end[t] && tests.end[t] <= to) continue;
      any.push(t);
      if (samples.created[tests.sample[t]] <= from - 7 * DAY) old.push(t);
    }
    const pool = old.length ? old : any;
    if (!pool.length) return;
    const t = rng.pick(pool);
    const span = to - from;
    tests.start[t] = from + Math.max(1, Math.round(span * 0.2));
    tests.complete[t] = from + Math.max(2, Math.round(span * 0.5));
    tests.end[t] = from + Math.max(3, Math.round(span * 0.8));
    tests.endKind[t] = END_REPORTED;
    tests.flags[t] |= FLAG_UNBATCHED;
    const sid = tests.sample[t];
    recomputeSample(this, sid);
    recomputeOrder(this, samples.order[sid]);
  }

  /**
   * Deletes one recent test that has not started, as labs delete mistaken entries; a sample or order left with
   * nothing is deleted with it. Started or finished tests are never deleted (they sit in batches and reports),
   * so a deletion never rewrites history before the interval. Prefers a test that existed before the interval
   * (the case a client must notice); falls back to one created inside it.
   */
  private deleteUnstartedTest(rng: Rng, from: number, to: number, existingTests: number): void {
    const { tests, samples } = this;
    const deletable = (t: number, at: number): boolean =>
      !tests.deleted[t] &&
      !tests.batch[t] &&
      samples.created[tests.sample[t]] < at &&
      (tests.start[t] === 0 || tests.start[t] > at) &&
      (tests.end[t] === 0 || tests.end[t] > at);
    const pickFrom = (top: number, at: number): number => {
      const candidates: number[] = [];
      for (let t = top; t >= 1 && candidates.length < 40; t--) if (deletable(t, at)) candidates.push(t);
      return candidates.length ? rng.pick(candidates) : 0;
    };
    let at = from + Math.max(1, Math.round((to - from) * 0.5));
    let t = pickFrom(existingTests, at);
    if (!t) {
      at = to;
      t = pickFrom(tests.n, at);
    }
    if (!t) return;
    tests.deleted[t] = at;
    // Planned later events of a deleted test never happen.
    if (tests.hold[t] > at) tests.hold[t] = 0;
    tests.start[t] = 0;
    tests.complete[t] = 0;
    tests.end[t] = 0;
    const sid = tests.sample[t];
    recomputeSample(this, sid);
    recomputeOrder(this, samples.order[sid]);
  }

  /** Customers edit contact details now and then (each about every 60 days; at least one per advance). */
  private editCustomers(rng: Rng, from: number, to: number, existing: number): void {
    if (existing === 0) return;
    const count = Math.max(1, rng.poisson((existing * (to - from)) / (60 * DAY)));
    for (let i = 0; i < count; i++) {
      const id = rng.int(1, existing);
      this.customers.version[id]++;
      this.customers.lastUpdated[id] = Math.max(this.customers.lastUpdated[id], rng.int(from + 1, to));
    }
  }

  private countChanges(from: number, to: number, before: Record<string, number>): AdvanceResult {
    let created = 0;
    let updated = 0;
    let deleted = 0;
    const inside = (t: number): boolean => t > from && t <= to;
    const tally = (n: number, createdAt: (id: number) => number, lu: Uint32Array, del?: Uint32Array): void => {
      for (let id = 1; id <= n; id++) {
        const isNew = inside(createdAt(id));
        const isGone = del !== undefined && inside(del[id]);
        if (isNew) created++;
        if (isGone) deleted++;
        if (!isNew && !isGone && lu[id] > from) updated++;
      }
    };
    tally(this.customers.n, (id) => this.customers.created[id], this.customers.lastUpdated);
    tally(this.orders.n, (id) => this.orders.created[id], this.orders.lastUpdated, this.orders.deleted);
    tally(this.samples.n, (id) => this.samples.created[id], this.samples.lastUpdated, this.samples.deleted);
    tally(this.tests.n, (id) => this.samples.created[this.tests.sample[id]], this.tests.lastUpdated, this.tests.deleted);
    tally(this.batches.n, (id) => this.batches.created[id], this.batches.lastUpdated);
    created += this.reports.n - before.report;
    return { created, updated, deleted };
  }

  // ---------------------------------------------------------------------------------------------- events

  /**
   * Replays every planned event with a time in (from, to]: bumps last_updated of the record and of the parents
   * whose served fields the event changes, creates the batches whose slot started and the reports issued.
   */
  private applyEvents(from: number, to: number): void {
    const { tests, samples, orders, batches } = this;
    const inside = (t: number): boolean => t > from && t <= to;
    const sLu = samples.lastUpdated;
    const oLu = orders.lastUpdated;
    // Typed buffers, not JS arrays: replaying two years of a large lab collects ~1M keys, which as a JS array
    // would cost several times the memory (and RSS that is never given back).
    const batchKeys = new KeyBuffer();
    const reportKeys = new KeyBuffer();

    for (let t = 1; t <= tests.n; t++) {
      const sid = tests.sample[t];
      const created = samples.created[sid];
      const hold = tests.hold[t];
      const start = tests.start[t];
      const complete = tests.complete[t];
      const end = tests.end[t];
      const del = tests.deleted[t];
      let lu = tests.lastUpdated[t];
      if (inside(created) && created > lu) lu = created;
      if (inside(hold)) {
        if (hold > lu) lu = hold;
        bumpOrder(oLu, samples.order[sid], hold); // the order goes ON HOLD
      }
      if (inside(start)) {
        if (start > lu) lu = start;
        if (start > sLu[sid]) sLu[sid] = start; // the sample's batches list grows
        if (hold) bumpOrder(oLu, samples.order[sid], start); // hold released
        if (!(tests.flags[t] & FLAG_UNBATCHED)) batchKeys.push(this.sortKey(start, t));
      }
      if (inside(complete) && complete > lu) lu = complete;
      if (inside(end)) {
        if (end > lu) lu = end;
        if (end > sLu[sid]) sLu[sid] = end; // state / has_report / completed_date
        bumpOrder(oLu, samples.order[sid], end); // has_report, partially_complete, leaving ON HOLD
        if (tests.endKind[t] === END_REPORTED) reportKeys.push(this.sortKey(end, sid));
      }
      if (inside(del)) {
        if (del > lu) lu = del;
        if (del > sLu[sid]) sLu[sid] = del; // test_count
        bumpOrder(oLu, samples.order[sid], del); // test_count
      }
      tests.lastUpdated[t] = lu;
    }

    for (let s = 1; s <= samples.n; s++) {
      const created = samples.created[s];
      if (inside(created) && created > sLu[s]) sLu[s] = created;
      const del = samples.deleted[s];
      if (inside(del)) {
        if (del > sLu[s]) sLu[s] = del;
        bumpOrder(oLu, samples.order[s], del); // sample_count
      }
    }

    for (let o = 1; o <= orders.n; o++) {
      for (const e of [orders.created[o], orders.received[o], orders.done[o], orders.reported[o], orders.deleted[o]]) {
        if (inside(e) && e > oLu[o]) oLu[o] = e;
      }
    }

    this.revealBatches(batchKeys);
    for (let b = 1; b <= batches.n; b++) {
      const c = batches.complete[b];
      if (inside(c) && c > batches.lastUpdated[b]) batches.lastUpdated[b] = c;
    }
    this.revealReports(reportKeys);
  }

  /** Tests that started in the same slot (same time, which also encodes the assay) form one batch. */
  private revealBatches(keys: KeyBuffer): void {
    if (!keys.length) return;
    const sorted = keys.sorted();
    const { batches, tests } = this;
    const ids = new Uint32Array(sorted.length);
    for (let i = 0; i < sorted.length; i++) ids[i] = sorted[i] % ID_SPACE;
    let i = 0;
    while (i < sorted.length) {
      const slot = Math.floor(sorted[i] / ID_SPACE);
      let j = i;
      let complete = 0;
      while (j < sorted.length && Math.floor(sorted[j] / ID_SPACE) === slot) {
        complete = Math.max(complete, tests.complete[ids[j]]);
        j++;
      }
      const b = batches.add();
      const created = slot + this.keyOrigin;
      batches.created[b] = created;
      batches.assay[b] = tests.assay[ids[i]];
      batches.complete[b] = complete;
      batches.first[b] = batches.addMembers(ids, i, j);
      batches.count[b] = j - i;
      batches.lastUpdated[b] = created;
      for (let k = i; k < j; k++) tests.batch[ids[k]] = b;
      i = j;
    }
  }

  /** One report per (sample, time some of its tests were reported), in time order. */
  private revealReports(keys: KeyBuffer): void {
    if (!keys.length) return;
    const sorted = keys.sorted();
    const { reports } = this;
    let prev = -1;
    for (const key of sorted) {
      if (key === prev) continue;
      prev = key;
      const r = reports.add();
      reports.sample[r] = key % ID_SPACE;
      reports.created[r] = Math.floor(key / ID_SPACE) + this.keyOrigin;
    }
  }
}

/** An append-only Float64Array that grows as needed. */
class KeyBuffer {
  private buf = new Float64Array(1024);
  length = 0;

  push(key: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = key;
  }

  /** Sorts in place and returns the used part. */
  sorted(): Float64Array {
    return this.buf.subarray(0, this.length).sort();
  }
}

function bumpOrder(lu: Uint32Array, oid: number, t: number): void {
  if (t > lu[oid]) lu[oid] = t;
}

/** n sorted uniform integers in [lo, hi]. */
function sortedUniform(rng: Rng, n: number, lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.floor(rng.range(lo, hi + 1)));
  return out.sort((a, b) => a - b);
}

export { SIZE_SPECS };
