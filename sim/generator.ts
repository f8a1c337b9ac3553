// Deterministic lab generator. From (size, seed, now) it plans two years of orders, samples and tests, each
// with its whole future timeline (when it will start, complete, be reported, or be cancelled / held / deleted).
// Records are written in creation order, so ids are monotone in date_created for every entity; that makes
// sort_by=date_created the same as id order and keeps it cheap even for a million tests.

import { ASSAYS, ASSAY_WEIGHTS } from './catalog.js';
import { recomputeOrder, recomputeSample, TAG, type Lab } from './lifecycle.js';
import { Rng, mix32 } from './prng.js';
import { END_CANCELLED, END_NOT_REPORTABLE, END_REPORTED } from './tables.js';
import type { SimSize } from './types.js';

const HOUR = 3600;
const DAY = 86400;

export interface SizeSpec {
  /** Orders over the whole span; tests come out at ~10 per order. */
  orders: number;
  /** Customers over the whole span (15% of them legacy, with a null date_created). */
  customers: number;
}

export const SIZE_SPECS: Record<SimSize, SizeSpec> = {
  tiny: { orders: 45, customers: 10 },
  small: { orders: 1_000, customers: 60 },
  medium: { orders: 10_000, customers: 300 },
  large: { orders: 100_000, customers: 1_500 },
};

/** The generated history covers this many days before the simulated now. */
export const SPAN_DAYS = 730;

/** Order volume grows this many times over the span, so recent weeks are the busiest (a growing lab). */
const GROWTH = 6;
const GROWTH_K = Math.log(GROWTH);

/** Business hours in UTC: Mon–Fri 07:00–19:00, Sat 08:00–14:00, Sunday closed. */
function businessHours(dayIndex: number): [number, number] | null {
  const weekday = new Date(dayIndex * DAY * 1000).getUTCDay();
  if (weekday === 0) return null;
  if (weekday === 6) return [8 * HOUR, 14 * HOUR];
  return [7 * HOUR, 19 * HOUR];
}

/** Maps "business seconds since from" to wall time over [from, to], so orders arrive in opening hours. */
export class BusinessTime {
  private readonly starts: number[] = [];
  private readonly cum: number[] = [];
  readonly total: number;

  constructor(from: number, to: number) {
    let acc = 0;
    for (let day = Math.floor(from / DAY); day * DAY < to; day++) {
      const hours = businessHours(day);
      if (!hours) continue;
      const a = Math.max(from, day * DAY + hours[0]);
      const b = Math.min(to, day * DAY + hours[1]);
      if (b <= a) continue;
      this.starts.push(a);
      this.cum.push(acc);
      acc += b - a;
    }
    this.total = acc;
  }

  at(offset: number): number {
    let lo = 0;
    let hi = this.cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.cum[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return Math.floor(this.starts[lo] + (offset - this.cum[lo]));
  }
}

/**
 * Batch slots: each assay runs batches at fixed times Monday–Saturday (06:00 and 14:00 UTC for medium and large
 * labs, 14:00 only for small ones), offset by 5 minutes per assay so a slot time identifies its assay. Tests
 * start when their slot's batch starts.
 */
export function slotHoursFor(size: SimSize): readonly number[] {
  return size === 'medium' || size === 'large' ? [6, 14] : [14];
}

export function nextSlot(slotHours: readonly number[], assayIndex: number, after: number): number {
  for (let day = Math.floor(after / DAY); ; day++) {
    if (new Date(day * DAY * 1000).getUTCDay() === 0) continue;
    for (const h of slotHours) {
      const t = day * DAY + h * HOUR + assayIndex * 300;
      if (t >= after) return t;
    }
  }
}

/** Turnaround target for a sample: mostly 24–96 h, a tail to two weeks, and a few of several weeks. */
function drawTatHours(rng: Rng): number {
  const u = rng.next();
  if (u < 0.86) return 22 + 60 * Math.pow(rng.next(), 1.8);
  if (u < 0.97) return rng.range(96, 300);
  return rng.range(300, 1200);
}

const SAMPLES_PER_ORDER = [1, 2, 3, 4, 5, 6, 7, 8];
const SAMPLES_PER_ORDER_W = [34, 24, 16, 10, 6, 4, 3, 3];
const TESTS_PER_SAMPLE = [1, 2, 3, 4, 5, 6, 7, 8];
const TESTS_PER_SAMPLE_W = [14, 14, 18, 18, 13, 10, 7, 6];

/**
 * Writes one order with its samples and tests (timelines included) into the lab. `created` must be later than
 * every earlier order. Returns the new order id.
 */
export function planOrder(lab: Lab, rng: Rng, created: number, customerId: number): number {
  const { orders, samples, tests } = lab;
  const oid = orders.add();
  orders.customer[oid] = customerId;
  orders.created[oid] = created;
  orders.received[oid] = created + rng.int(0, 4 * HOUR);
  const orderDeleted = rng.chance(0.002) ? created + rng.int(HOUR / 2, 48 * HOUR) : 0;
  const sampleCount = rng.weighted(SAMPLES_PER_ORDER, SAMPLES_PER_ORDER_W);
  orders.firstSample[oid] = samples.n + 1;
  orders.sampleCount[oid] = sampleCount;
  for (let j = 0; j < sampleCount; j++) {
    const sid = samples.add();
    const c = Math.max(lab.lastSampleCreated + 1, created + j * 20);
    lab.lastSampleCreated = c;
    samples.order[sid] = oid;
    samples.created[sid] = c;
    const sampleDeleted = orderDeleted || (rng.chance(0.003) ? c + rng.int(HOUR / 2, 48 * HOUR) : 0);
    if (sampleDeleted) samples.deleted[sid] = sampleDeleted;
    planTests(lab, rng, sid, c, sampleDeleted);
    recomputeSample(lab, sid);
  }
  if (orderDeleted) orders.deleted[oid] = orderDeleted;
  recomputeOrder(lab, oid);
  void tests;
  return oid;
}

function planTests(lab: Lab, rng: Rng, sid: number, c: number, sampleDeleted: number): void {
  const { samples, tests } = lab;
  const count = rng.weighted(TESTS_PER_SAMPLE, TESTS_PER_SAMPLE_W);
  const assays: number[] = [];
  while (assays.length < count) {
    const a = rng.weighted(ASSAY_INDEXES, ASSAY_WEIGHTS);
    if (!assays.includes(a)) assays.push(a);
  }
  assays.sort((x, y) => x - y);
  samples.firstTest[sid] = tests.n + 1;
  samples.testCount[sid] = count;
  const target = c + Math.round(drawTatHours(rng) * HOUR);
  const normal: number[] = [];
  let latestComplete = 0;
  for (const a of assays) {
    const tid = tests.add();
    tests.sample[tid] = sid;
    tests.assay[tid] = a;
    if (sampleDeleted) {
      tests.deleted[tid] = sampleDeleted;
      continue;
    }
    const u = rng.next();
    if (u < 0.005) {
      // Entered by mistake and deleted before anything happened.
      tests.deleted[tid] = c + rng.int(HOUR / 2, 24 * HOUR);
    } else if (u < 0.03) {
      // Cancelled before it started, sometimes after sitting on hold.
      const hold = rng.chance(0.3) ? c + rng.int(2 * HOUR, 24 * HOUR) : 0;
      tests.hold[tid] = hold;
      tests.end[tid] = Math.max(hold, c) + rng.int(HOUR, 72 * HOUR);
      tests.endKind[tid] = END_CANCELLED;
    } else if (u < 0.065) {
      // Put on hold (paperwork missing, re-sample requested). Most are released days or weeks later and then
      // reported on their own (the long TAT tail); others are cancelled after a while. Some holds last months,
      // so tests created weeks ago are still ON HOLD "now" (advance() may release one of them).
      const hold = c + rng.int(2 * HOUR, 48 * HOUR);
      tests.hold[tid] = hold;
      const v = rng.next();
      if (v < 0.6) {
        const start = nextSlot(lab.slots, a, hold + rng.int(3 * DAY, 40 * DAY));
        tests.start[tid] = start;
        tests.complete[tid] = start + Math.round(ASSAYS[a].hours * HOUR * rng.range(0.7, 1.4));
        tests.end[tid] = tests.complete[tid] + rng.int(HOUR, 30 * HOUR);
        tests.endKind[tid] = rng.chance(0.03) ? END_NOT_REPORTABLE : END_REPORTED;
      } else {
        tests.end[tid] = hold + (v < 0.85 ? rng.int(2 * DAY, 30 * DAY) : rng.int(20 * DAY, 150 * DAY));
        tests.endKind[tid] = END_CANCELLED;
      }
    } else {
      const start = nextSlot(lab.slots, a, c + rng.int(HOUR, 10 * HOUR));
      tests.start[tid] = start;
      tests.complete[tid] = start + Math.round(ASSAYS[a].hours * HOUR * rng.range(0.7, 1.4));
      latestComplete = Math.max(latestComplete, tests.complete[tid]);
      normal.push(tid);
    }
  }
  // Tests of a sample are normally reviewed and reported together on one certificate; a few are amended later.
  const reportAt = Math.max(target, latestComplete + HOUR / 2);
  for (const tid of normal) {
    tests.end[tid] = rng.chance(0.08) ? reportAt + rng.int(2 * HOUR, 72 * HOUR) : reportAt;
    tests.endKind[tid] = rng.chance(0.03) ? END_NOT_REPORTABLE : END_REPORTED;
  }
}

const ASSAY_INDEXES = ASSAYS.map((_, i) => i);

/** Adds one customer created at `created` (0 = legacy, date_created null). */
export function addCustomer(lab: Lab, rng: Rng, created: number, lastUpdated: number): number {
  const { customers } = lab;
  const id = customers.add();
  customers.created[id] = created;
  customers.lastUpdated[id] = Math.max(created, lastUpdated);
  // Order share: log-normal, so a few big accounts place most orders.
  const weight = Math.exp(1.3 * rng.normal());
  customers.cumWeight[id] = (id > 1 ? customers.cumWeight[id - 1] : 0) + weight;
  return id;
}

/** Picks a customer among ids 1..eligible, by order share. */
export function pickCustomer(lab: Lab, rng: Rng, eligible: number): number {
  const cum = lab.customers.cumWeight;
  const u = rng.next() * cum[eligible];
  let lo = 1;
  let hi = eligible;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cum[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Customers whose date_created is <= t (legacy ones count as always there); ids are in creation order. */
export function eligibleCustomers(lab: Lab, t: number, hint = 1): number {
  const { customers } = lab;
  let k = Math.max(1, hint);
  while (k < customers.n && customers.created[k + 1] <= t) k++;
  return k;
}

export interface BaseWorld {
  spanStart: number;
  /** Orders per business second at the end of the span; advance() keeps creating at this rate. */
  orderRate: number;
  /** New customers per day at the end of the span. */
  customerRate: number;
}

/** Plans the two years of history before `now` into an empty lab. */
export function generateBase(lab: Lab, size: SimSize, now: number): BaseWorld {
  const spec = SIZE_SPECS[size];
  const rng = new Rng(mix32(lab.seed, 0xba5e, SIZE_INDEX[size]));
  const spanStart = now - SPAN_DAYS * DAY;
  const expectedTests = spec.orders * 10.5;
  lab.orders.reserve(spec.orders + 16);
  lab.samples.reserve(Math.ceil(spec.orders * 2.8) + 16);
  lab.tests.reserve(Math.ceil(expectedTests * 1.06) + 64);
  lab.customers.reserve(spec.customers + 16);

  // Customers: legacy accounts first (migrated, no date_created), then new accounts spread over the span.
  const legacy = Math.max(2, Math.round(spec.customers * 0.15));
  for (let i = 0; i < legacy; i++) addCustomer(lab, rng, 0, spanStart - rng.int(30 * DAY, 400 * DAY));
  const newCustomers = spec.customers - legacy;
  const customerSpan = now - 2 * DAY - spanStart;
  for (let i = 0; i < newCustomers; i++) {
    const created = spanStart + Math.floor(((i + rng.next()) / newCustomers) * customerSpan);
    const edited = rng.chance(0.5) ? created + Math.floor(rng.next() * (now - created)) : created;
    addCustomer(lab, rng, created, edited);
  }

  // Orders: stratified draws from a density growing GROWTH-fold over the span, placed in business hours.
  // Stratification keeps the times monotone in the draw index, so ids come out in date order for free.
  const business = new BusinessTime(spanStart, now - 15 * 60);
  const n = spec.orders;
  const expK = Math.exp(GROWTH_K);
  let eligible = 1;
  let last = 0;
  for (let i = 0; i < n; i++) {
    const x = (i + rng.next()) / n;
    const y = Math.log(1 + x * (expK - 1)) / GROWTH_K;
    const t = Math.max(last + 1, business.at(y * business.total));
    last = t;
    eligible = eligibleCustomers(lab, t, eligible);
    planOrder(lab, rng, t, pickCustomer(lab, rng, eligible));
  }
  const densityAtEnd = (GROWTH_K * expK) / (expK - 1);
  return {
    spanStart,
    orderRate: (n * densityAtEnd) / business.total,
    customerRate: newCustomers / SPAN_DAYS,
  };
}

const SIZE_INDEX: Record<SimSize, number> = { tiny: 1, small: 2, medium: 3, large: 4 };

export { TAG };
