// The lab workflow as pure functions of the columns and a time. A record's state is never stored: it is read
// off its planned timeline (hold/start/complete/end/deleted) at the simulated now, so moving the clock
// progresses every record at once, and a test planned weeks ago to be reported today turns REPORTED today.

import { hashUnit } from './prng.js';
import {
  END_CANCELLED,
  END_NOT_REPORTABLE,
  END_REPORTED,
  type CustomerTable,
  type BatchTable,
  type OrderTable,
  type ReportTable,
  type SampleTable,
  type TestTable,
} from './tables.js';

/** The column tables plus what derivations need; generator, store and entities all work on this. */
export interface Lab {
  seed: number;
  customers: CustomerTable;
  orders: OrderTable;
  samples: SampleTable;
  tests: TestTable;
  batches: BatchTable;
  reports: ReportTable;
  /** Keeps sample ids strictly monotone in date_created across generation runs. */
  lastSampleCreated: number;
  /** Batch slot hours of the day (see generator.nextSlot). */
  readonly slots: readonly number[];
}

/** Entity tags for per-record hashing (any distinct numbers). */
export const TAG = { customer: 1, order: 2, sample: 3, test: 4, batch: 5, assay: 6, report: 7 } as const;

export function happened(t: number, now: number): boolean {
  return t > 0 && t <= now;
}

export function testState(tests: TestTable, id: number, now: number): string {
  if (happened(tests.end[id], now)) {
    const kind = tests.endKind[id];
    return kind === END_REPORTED ? 'REPORTED' : kind === END_NOT_REPORTABLE ? 'NOT REPORTABLE' : 'CANCELLED';
  }
  if (happened(tests.complete[id], now)) return 'COMPLETED';
  if (happened(tests.start[id], now)) return 'IN PROGRESS';
  if (happened(tests.hold[id], now)) return 'ON HOLD';
  return 'NOT STARTED';
}

export function isReported(tests: TestTable, id: number, now: number): boolean {
  return tests.endKind[id] === END_REPORTED && happened(tests.end[id], now) && !happened(tests.deleted[id], now);
}

export function sampleState(lab: Lab, sid: number, now: number): string {
  const { samples, tests } = lab;
  if (!happened(samples.done[sid], now)) return 'IN PROGRESS';
  let anyReported = false;
  let anyNotReportable = false;
  const first = samples.firstTest[sid];
  for (let t = first; t < first + samples.testCount[sid]; t++) {
    if (happened(tests.deleted[t], now)) continue;
    if (tests.endKind[t] === END_REPORTED) anyReported = true;
    else if (tests.endKind[t] === END_NOT_REPORTABLE) anyNotReportable = true;
  }
  return anyReported ? 'COMPLETED' : anyNotReportable ? 'NOT REPORTABLE' : 'DISCONTINUED';
}

export function orderState(lab: Lab, oid: number, now: number): string {
  const { orders, samples, tests } = lab;
  if (happened(orders.reported[oid], now)) return 'REPORTED';
  if (happened(orders.done[oid], now)) return 'COMPLETED';
  const fs = orders.firstSample[oid];
  for (let s = fs; s < fs + orders.sampleCount[oid]; s++) {
    const ft = samples.firstTest[s];
    for (let t = ft; t < ft + samples.testCount[s]; t++) {
      if (!happened(tests.deleted[t], now) && testState(tests, t, now) === 'ON HOLD') return 'ON HOLD';
    }
  }
  return 'CREATED';
}

/**
 * Re-derives a sample's "done" time from its tests: the latest final (or deletion) time once every test has
 * one, else 0. A sample whose tests are all deleted is deleted with the last of them (no empty samples).
 */
export function recomputeSample(lab: Lab, sid: number): void {
  const { samples, tests } = lab;
  let latest = 0;
  let latestDeletion = 0;
  let allFinal = true;
  let allDeleted = true;
  const first = samples.firstTest[sid];
  for (let t = first; t < first + samples.testCount[sid]; t++) {
    const del = tests.deleted[t];
    if (del) {
      latestDeletion = Math.max(latestDeletion, del);
      latest = Math.max(latest, del);
      continue;
    }
    allDeleted = false;
    const end = tests.end[t];
    if (end) latest = Math.max(latest, end);
    else allFinal = false;
  }
  if (allDeleted && !samples.deleted[sid]) samples.deleted[sid] = latestDeletion;
  samples.done[sid] = allFinal ? latest : 0;
}

/** Hours between an order's last sample finishing and its order-level report (fixed per order). */
function orderReportDelay(lab: Lab, oid: number): number {
  return Math.round(1800 + hashUnit(lab.seed, TAG.order, oid, 77) * 20 * 3600);
}

/** Re-derives an order's done/reported times from its samples (same rules as recomputeSample). */
export function recomputeOrder(lab: Lab, oid: number): void {
  const { orders, samples, tests } = lab;
  let latest = 0;
  let latestDeletion = 0;
  let allFinal = true;
  let allDeleted = true;
  let anyReportable = false;
  const first = orders.firstSample[oid];
  for (let s = first; s < first + orders.sampleCount[oid]; s++) {
    const del = samples.deleted[s];
    if (del) {
      latestDeletion = Math.max(latestDeletion, del);
      latest = Math.max(latest, del);
      continue;
    }
    allDeleted = false;
    const done = samples.done[s];
    if (done) latest = Math.max(latest, done);
    else allFinal = false;
    const ft = samples.firstTest[s];
    for (let t = ft; t < ft + samples.testCount[s]; t++) {
      if (!tests.deleted[t] && tests.end[t] && tests.endKind[t] === END_REPORTED) anyReportable = true;
    }
  }
  if (allDeleted && !orders.deleted[oid]) orders.deleted[oid] = latestDeletion;
  orders.done[oid] = allFinal ? latest : 0;
  orders.reported[oid] = allFinal && anyReportable && !allDeleted ? latest + orderReportDelay(lab, oid) : 0;
}

export { END_CANCELLED, END_NOT_REPORTABLE, END_REPORTED };
