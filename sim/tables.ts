// Column storage for the simulated lab. Only the structural skeleton of each record lives here, in typed
// arrays indexed by id (index 0 unused): parent ids, event times (unix seconds, 0 = never/not yet), a few
// small codes. A million tests cost ~40 MB this way. Everything else a record shows (names, weights, results,
// formatted ids) is derived on demand from (seed, id) by entities.ts, so nothing per record is an object.

type Column = Uint32Array | Uint16Array | Uint8Array | Float64Array;

function grow<T extends Column>(column: T, capacity: number): T {
  const Ctor = column.constructor as new (n: number) => T;
  const next = new Ctor(capacity);
  next.set(column);
  return next;
}

export abstract class Table {
  /** Number of records; ids are 1..n. */
  n = 0;
  private capacity = 0;

  /** Appends a record and returns its id. */
  add(): number {
    const id = ++this.n;
    if (id >= this.capacity) this.reserve(Math.max(64, Math.ceil(this.capacity * 1.5), id + 1));
    return id;
  }

  /** Pre-sizes the columns (the generator knows roughly how many records it will make; avoids 2x overshoot). */
  reserve(capacity: number): void {
    if (capacity <= this.capacity) return;
    this.capacity = capacity;
    this.resize(capacity);
  }

  protected abstract resize(capacity: number): void;

  protected grow<T extends Column>(column: T, capacity: number): T {
    return grow(column, capacity);
  }
}

export class CustomerTable extends Table {
  /** 0 for legacy customers whose date_created is null. */
  created = new Uint32Array(0);
  lastUpdated = new Uint32Array(0);
  /** Bumped on every simulated edit; cosmetic fields are derived from (seed, id, version). */
  version = new Uint16Array(0);
  /** Cumulative order-share weights, for picking which customer places an order. */
  cumWeight = new Float64Array(0);

  protected resize(c: number): void {
    this.created = this.grow(this.created, c);
    this.lastUpdated = this.grow(this.lastUpdated, c);
    this.version = this.grow(this.version, c);
    this.cumWeight = this.grow(this.cumWeight, c);
  }
}

export class OrderTable extends Table {
  customer = new Uint32Array(0);
  created = new Uint32Array(0);
  received = new Uint32Array(0);
  firstSample = new Uint32Array(0);
  sampleCount = new Uint16Array(0);
  /** All samples finished (completed, discontinued or deleted). */
  done = new Uint32Array(0);
  /** Order report released (state REPORTED, date_order_reported). */
  reported = new Uint32Array(0);
  deleted = new Uint32Array(0);
  lastUpdated = new Uint32Array(0);

  protected resize(c: number): void {
    this.customer = this.grow(this.customer, c);
    this.created = this.grow(this.created, c);
    this.received = this.grow(this.received, c);
    this.firstSample = this.grow(this.firstSample, c);
    this.sampleCount = this.grow(this.sampleCount, c);
    this.done = this.grow(this.done, c);
    this.reported = this.grow(this.reported, c);
    this.deleted = this.grow(this.deleted, c);
    this.lastUpdated = this.grow(this.lastUpdated, c);
  }
}

export class SampleTable extends Table {
  order = new Uint32Array(0);
  created = new Uint32Array(0);
  firstTest = new Uint32Array(0);
  testCount = new Uint8Array(0);
  /** Every test reached a final state (or was deleted): sample COMPLETED / NOT REPORTABLE / DISCONTINUED. */
  done = new Uint32Array(0);
  deleted = new Uint32Array(0);
  lastUpdated = new Uint32Array(0);

  protected resize(c: number): void {
    this.order = this.grow(this.order, c);
    this.created = this.grow(this.created, c);
    this.firstTest = this.grow(this.firstTest, c);
    this.testCount = this.grow(this.testCount, c);
    this.done = this.grow(this.done, c);
    this.deleted = this.grow(this.deleted, c);
    this.lastUpdated = this.grow(this.lastUpdated, c);
  }
}

/** Final state reached at TestTable.end. */
export const END_REPORTED = 0;
export const END_NOT_REPORTABLE = 1;
export const END_CANCELLED = 2;

/** Test flag: started outside a batch slot (a forced release during advance), so never batched. */
export const FLAG_UNBATCHED = 1;

export class TestTable extends Table {
  sample = new Uint32Array(0);
  /** Assay index 0..15 (assay id = index + 1). */
  assay = new Uint8Array(0);
  /** Timeline (created is the sample's): ON HOLD at hold, IN PROGRESS at start, COMPLETED at complete, final at end. */
  hold = new Uint32Array(0);
  start = new Uint32Array(0);
  complete = new Uint32Array(0);
  end = new Uint32Array(0);
  endKind = new Uint8Array(0);
  deleted = new Uint32Array(0);
  batch = new Uint32Array(0);
  flags = new Uint8Array(0);
  lastUpdated = new Uint32Array(0);

  protected resize(c: number): void {
    this.sample = this.grow(this.sample, c);
    this.assay = this.grow(this.assay, c);
    this.hold = this.grow(this.hold, c);
    this.start = this.grow(this.start, c);
    this.complete = this.grow(this.complete, c);
    this.end = this.grow(this.end, c);
    this.endKind = this.grow(this.endKind, c);
    this.deleted = this.grow(this.deleted, c);
    this.batch = this.grow(this.batch, c);
    this.flags = this.grow(this.flags, c);
    this.lastUpdated = this.grow(this.lastUpdated, c);
  }
}

export class BatchTable extends Table {
  assay = new Uint8Array(0);
  /** Slot time: the batch is created when its tests start. */
  created = new Uint32Array(0);
  complete = new Uint32Array(0);
  /** Member tests are members[first .. first+count). */
  first = new Uint32Array(0);
  count = new Uint16Array(0);
  lastUpdated = new Uint32Array(0);
  members = new Uint32Array(0);
  membersUsed = 0;

  protected resize(c: number): void {
    this.assay = this.grow(this.assay, c);
    this.created = this.grow(this.created, c);
    this.complete = this.grow(this.complete, c);
    this.first = this.grow(this.first, c);
    this.count = this.grow(this.count, c);
    this.lastUpdated = this.grow(this.lastUpdated, c);
  }

  addMembers(testIds: ArrayLike<number>, from: number, to: number): number {
    const need = this.membersUsed + (to - from);
    if (need > this.members.length) this.members = grow(this.members, Math.max(need, Math.ceil(this.members.length * 1.5), 1024));
    const start = this.membersUsed;
    for (let i = from; i < to; i++) this.members[this.membersUsed++] = testIds[i];
    return start;
  }
}

/** Sample-level certificates: one report per (sample, time at which some of its tests were reported). */
export class ReportTable extends Table {
  sample = new Uint32Array(0);
  created = new Uint32Array(0);

  protected resize(c: number): void {
    this.sample = this.grow(this.sample, c);
    this.created = this.grow(this.created, c);
  }
}
