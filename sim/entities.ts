// Turns column records into the JSON objects QBench v1 serves (field names, types and date formats of
// qbench-api.md §4). Objects are built on demand, one page at a time: structural fields and state come from
// the columns at the simulated now, cosmetic fields (names, weights, phone numbers) from a per-record PRNG
// seeded by (seed, entity, id), so they are identical on every call and never stored.

import {
  ACCESSIONING_TYPES,
  ASSAYS,
  CITIES,
  MATRIX_TYPES,
  NAME_FIRST,
  NAME_SECOND,
  NAME_SUFFIX,
  ODD_NAMES,
  PRODUCT_FORMS,
  STRAINS,
  STREETS,
  TECHS,
} from './catalog.js';
import { mmddyy, qbDate, qbDateOrNull, qbDateTime, qbDateTimeOrNull, unixString } from './formats.js';
import { happened, isReported, orderState, sampleState, TAG, testState } from './lifecycle.js';
import { hashUnit, recordRng, type Rng } from './prng.js';
import type { Store } from './store.js';
import { END_REPORTED } from './tables.js';
import type { SimEntity } from './types.js';

export type Json = Record<string, unknown>;

export interface RenderOptions {
  /** Include raw worksheet data on tests (include_raw_worksheet_data=true, either spelling). */
  worksheet?: boolean;
  /** Apply the v1 list quirk: some test items lack label_abbr/title/has_report/report_completed_date. */
  missingFieldRate?: number;
  /** Embed children as a detail response does (sample.tests, order.samples[].tests). */
  embed?: boolean;
}

const HOUR = 3600;

// --------------------------------------------------------------------------------------------- customers

const nameCache = new Map<string, string>();

/** Customer names never change (edits touch contact fields only), so the name sort cache stays valid. */
export function customerName(seed: number, id: number): string {
  const key = `${seed}:${id}`;
  let name = nameCache.get(key);
  if (name === undefined) {
    const r = recordRng(seed, TAG.customer, id);
    if (r.chance(0.08)) name = r.pick(ODD_NAMES);
    else {
      const suffix = r.pick(NAME_SUFFIX);
      name = `${r.pick(NAME_FIRST)} ${r.pick(NAME_SECOND)}${suffix ? ` ${suffix}` : ''}`;
    }
    if (nameCache.size > 50_000) nameCache.clear();
    nameCache.set(key, name);
  }
  return name;
}

function phone(r: Rng): string {
  return `(${r.int(200, 989)}) ${r.int(200, 999)}-${String(r.int(0, 9999)).padStart(4, '0')}`;
}

function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '').slice(0, 16) || 'customer';
}

export function renderCustomer(st: Store, id: number): Json {
  const { customers } = st;
  const r = recordRng(st.seed, TAG.customer, id, 1);
  const e = recordRng(st.seed, TAG.customer, id, 1000 + customers.version[id]);
  const name = customerName(st.seed, id);
  const domain = `${slug(name)}.com`;
  const created = customers.created[id];
  const contact = `${r.pick(['Alex', 'Sam', 'Jordan', 'Taylor', 'Morgan', 'Casey', 'Riley'])} ${r.pick(['Lee', 'Garcia', 'Smith', 'Nguyen', 'Brown', 'Lopez'])}`;
  const obj: Json = {
    id,
    customer_name: name,
    date_created: created ? qbDateTime(created) : null,
    last_updated: unixString(customers.lastUpdated[id]),
    deleted: false,
    phone: phone(e),
    fax: e.chance(0.2) ? phone(e) : null,
    address: `${e.int(10, 9999)} ${e.pick(STREETS)}, ${e.pick(CITIES)}`,
    email: `${e.pick(['info', 'lab', 'qa', 'compliance', 'orders'])}@${domain}`,
    billing_email: `billing@${domain}`,
    billing_contact_name: contact,
    comments: e.chance(0.7) ? '' : e.pick(['Net 30', 'Prefers email COAs', 'Call before pickup', 'Rush orders common']),
    tags: r.chance(0.2) ? [r.pick(['VIP', 'Hemp', 'Medical', 'R&D'])] : [],
    license_number: `C${r.int(10, 12)}-${String(r.int(0, 9999999)).padStart(7, '0')}-LIC`,
    account_number: `ACCT-${String(id).padStart(5, '0')}`,
    lab: null,
    allied_username: null,
    confident_cannabis_customer_id: r.chance(0.4) ? r.int(10000, 99999) : null,
    company_discount: r.chance(0.2) ? r.pick([5, 10, 15]) : 0,
    payment_term_days: r.pick([0, 15, 30, 30, 45]),
    assay_customer_discounts: [],
    panel_customer_discounts: [],
    qbd_customer_id: r.chance(0.5) ? `${r.int(100, 999)}-${r.int(1000000000, 1999999999)}` : null,
    sync_token: String(customers.version[id]),
    initial_quickbooks_details: JSON.stringify({ DisplayName: name, Active: true }),
  };
  // Optional keys appear on some rows only (qbench-api.md §4: "some keys appear on only some rows").
  if (r.chance(0.3)) obj.divisions = [{ id: 1, name: 'Main Lab', global_division: true }];
  if (r.chance(0.25)) obj.last_synced = qbDateTime(Math.max(created, customers.lastUpdated[id]));
  return obj;
}

// --------------------------------------------------------------------------------------------- orders

function countLive(st: Store, oid: number): { samples: number; tests: number; anyReported: boolean; doneSamples: number } {
  const { orders, samples, tests, now } = st;
  let sampleCount = 0;
  let testCount = 0;
  let anyReported = false;
  let doneSamples = 0;
  const fs = orders.firstSample[oid];
  for (let s = fs; s < fs + orders.sampleCount[oid]; s++) {
    if (happened(samples.deleted[s], now)) continue;
    sampleCount++;
    if (happened(samples.done[s], now)) doneSamples++;
    const ft = samples.firstTest[s];
    for (let t = ft; t < ft + samples.testCount[s]; t++) {
      if (happened(tests.deleted[t], now)) continue;
      testCount++;
      if (isReported(tests, t, now)) anyReported = true;
    }
  }
  return { samples: sampleCount, tests: testCount, anyReported, doneSamples };
}

export function renderOrder(st: Store, id: number, opts: RenderOptions = {}): Json {
  const { orders, now } = st;
  const r = recordRng(st.seed, TAG.order, id);
  const created = orders.created[id];
  const live = countLive(st, id);
  const reported = orders.reported[id];
  const obj: Json = {
    id,
    custom_formatted_id: `ORD-${mmddyy(created)}-${String(1000 + ((id * 7919) % 9000))}`,
    customer_account_id: orders.customer[id],
    state: orderState(st, id, now),
    date_created: qbDateTime(created),
    date_received: qbDateTimeOrNull(orders.received[id], now),
    date_completed: qbDateTimeOrNull(orders.done[id], now),
    // Date-only, as real payloads show (it coarsens order-level TAT to a day).
    date_order_reported: qbDateOrNull(reported, now),
    date_required: qbDate(created + r.int(3, 10) * 24 * HOUR),
    collected_date: qbDate(created - r.int(0, 3) * 24 * HOUR),
    last_updated: unixString(orders.lastUpdated[id]),
    sample_count: live.samples,
    test_count: live.tests,
    has_report: live.anyReported,
    partially_complete: live.doneSamples > 0 && live.doneSamples < live.samples,
    report_emailed: happened(reported, now),
    division: null,
    division_id: null,
    email_to: r.chance(0.6) ? 'lab@example.com' : null,
    tags: r.chance(0.1) ? ['RUSH'] : [],
    special_instructions: r.chance(0.15) ? r.pick(['Rush', 'Retest requested', 'Call client with results']) : '',
    customer_comments: '',
    requested_by: null,
    requested_by_id: null,
    cc_id: r.chance(0.3) ? r.int(100000, 999999) : null,
    cc_order_status: r.int(1, 5),
    cc_sync_status: r.pick(['SYNCED', 'NOT_SYNCED']),
    cc_latest_sync: null,
    deleted: happened(orders.deleted[id], now),
  };
  if (r.chance(0.3)) obj.collected_datetime = qbDateTime(created - r.int(1, 72) * HOUR);
  if (opts.embed) {
    const list: Json[] = [];
    const fs = orders.firstSample[id];
    for (let s = fs; s < fs + orders.sampleCount[id]; s++) {
      if (happened(st.samples.deleted[s], now)) continue;
      list.push(renderSample(st, s, { worksheet: opts.worksheet, embed: true }));
    }
    obj.samples = list;
  }
  return obj;
}

// --------------------------------------------------------------------------------------------- samples

export function renderSample(st: Store, id: number, opts: RenderOptions = {}): Json {
  const { samples, tests, now } = st;
  const r = recordRng(st.seed, TAG.sample, id);
  const created = samples.created[id];
  const batchIds = new Set<number>();
  let liveTests = 0;
  let anyReported = false;
  let firstStart = 0;
  const ft = samples.firstTest[id];
  const fl = ft + samples.testCount[id];
  for (let t = ft; t < fl; t++) {
    if (happened(tests.deleted[t], now)) continue;
    liveTests++;
    if (tests.batch[t]) batchIds.add(tests.batch[t]);
    if (isReported(tests, t, now)) anyReported = true;
    const start = tests.start[t];
    if (happened(start, now) && (!firstStart || start < firstStart)) firstStart = start;
  }
  const strain = r.pick(STRAINS);
  const form = r.pick(PRODUCT_FORMS);
  const acc = r.weighted(ACCESSIONING_TYPES, ACCESSIONING_TYPES.map((a) => a.weight));
  const obj: Json = {
    id,
    order_id: samples.order[id],
    custom_formatted_id: `S${mmddyy(created)}-${String(id).padStart(6, '0')}`,
    sample_name: `${strain} - ${form}`,
    description: `${strain} ${form}, lot ${r.int(1000, 9999)}`,
    leaf_id: `1A40603000${r.hex(4).toUpperCase()}${String(r.int(0, 99999999)).padStart(8, '0')}`,
    has_report: anyReported,
    batches: [...batchIds].sort((a, b) => a - b),
    completed_date: qbDateTimeOrNull(samples.done[id], now),
    date_created: qbDateTime(created),
    start_date: firstStart ? qbDateTime(firstStart) : null,
    matrix_type: r.pick(MATRIX_TYPES),
    accessioning_type: { id: acc.id, value: acc.value },
    state: sampleState(st, id, now),
    test_count: liveTests,
    sample_weight: `${(r.range(0.5, 30)).toFixed(2)}g`,
    last_updated: unixString(samples.lastUpdated[id]),
    deleted: happened(samples.deleted[id], now),
  };
  if (opts.embed) {
    const list: Json[] = [];
    for (let t = ft; t < fl; t++) {
      if (happened(tests.deleted[t], now)) continue;
      list.push(renderTest(st, t, { worksheet: opts.worksheet }));
    }
    obj.tests = list;
  }
  return obj;
}

// --------------------------------------------------------------------------------------------- tests

function resultText(r: Rng, label: string): string {
  switch (label) {
    case 'CN':
      return `${r.range(8, 32).toFixed(2)}% Total THC`;
    case 'TP':
      return `${r.range(0.3, 4).toFixed(2)}% Total Terpenes`;
    case 'MC':
      return `${r.range(5, 14).toFixed(1)}%`;
    case 'WA':
      return `${r.range(0.35, 0.65).toFixed(2)} aw`;
    case 'YM':
      return `${r.int(0, 20) * 100} CFU/g`;
    default:
      return r.chance(0.96) ? 'Pass' : 'Fail';
  }
}

function worksheet(r: Rng, label: string, techName: string, started: boolean, completed: boolean): Json | null {
  if (!started) return null;
  return {
    instrument: `${label}-${r.int(1, 3)}`,
    analyst: techName,
    dilution_factor: r.pick([1, 2, 5, 10]),
    sample_mass_g: Number(r.range(0.2, 1.2).toFixed(4)),
    raw_value: completed ? Number(r.range(0, 100).toFixed(3)) : null,
    processed: completed,
  };
}

/** Decides, per test id, whether and how the v1 list item lacks fields (stable for a seed). */
function missingVariant(seed: number, id: number, rate: number): 'all' | 'label' | 'report' | null {
  if (rate <= 0 || hashUnit(seed, TAG.test, id, 4242) >= rate) return null;
  const v = hashUnit(seed, TAG.test, id, 4343);
  return v < 0.5 ? 'all' : v < 0.75 ? 'label' : 'report';
}

export function renderTest(st: Store, id: number, opts: RenderOptions = {}): Json {
  const { tests, samples, now } = st;
  const r = recordRng(st.seed, TAG.test, id);
  const sid = tests.sample[id];
  const created = samples.created[sid];
  const a = tests.assay[id];
  const assay = ASSAYS[a];
  const tech = r.pick(TECHS);
  const state = testState(tests, id, now);
  const started = happened(tests.start[id], now);
  const completed = happened(tests.complete[id], now);
  const reported = state === 'REPORTED';
  const estStart = created + 24 * HOUR;
  const obj: Json = {
    id,
    sample_id: sid,
    batches: tests.batch[id] ? [tests.batch[id]] : [],
    assay_id: a + 1,
    assay: { id: a + 1, label_abbr: assay.label, title: assay.title },
    label_abbr: assay.label,
    title: assay.title,
    state,
    has_report: reported,
    report_completed_date: reported ? qbDateTime(tests.end[id]) : null,
    date_created: qbDateTime(created),
    start_date: started ? qbDateTime(tests.start[id]) : null,
    complete_date: completed ? qbDateTime(tests.complete[id]) : null,
    estimated_start_date: qbDateTime(estStart),
    estimated_complete_date: qbDateTime(estStart + Math.round(assay.hours * HOUR) + 24 * HOUR),
    results: completed && state !== 'CANCELLED' ? resultText(r, assay.label) : null,
    tech_id: started ? tech.id : null,
    tags: [],
    comments: r.chance(0.1) ? r.pick(['Re-prep requested', 'Matrix interference', 'Client requested rush']) : '',
    last_updated: unixString(tests.lastUpdated[id]),
    deleted: happened(tests.deleted[id], now),
  };
  if (opts.worksheet) obj.worksheet_data = worksheet(r, assay.label, tech.name, started, completed);
  const missing = opts.missingFieldRate ? missingVariant(st.seed, id, opts.missingFieldRate) : null;
  if (missing === 'all' || missing === 'label') {
    delete obj.label_abbr;
    delete obj.title;
  }
  if (missing === 'all' || missing === 'report') {
    delete obj.has_report;
    delete obj.report_completed_date;
  }
  if (missing === 'all') delete obj.worksheet_data;
  return obj;
}

// --------------------------------------------------------------------------------------------- batches

export function renderBatch(st: Store, id: number): Json {
  const { batches, tests, now } = st;
  const r = recordRng(st.seed, TAG.batch, id);
  const a = batches.assay[id];
  const created = batches.created[id];
  const testIds: number[] = [];
  const sampleIds = new Set<number>();
  const first = batches.first[id];
  for (let k = first; k < first + batches.count[id]; k++) {
    const t = batches.members[k];
    if (happened(tests.deleted[t], now)) continue;
    testIds.push(t);
    sampleIds.add(tests.sample[t]);
  }
  const complete = happened(batches.complete[id], now);
  const slot = new Date(created * 1000).getUTCHours() < 12 ? 'A' : 'B';
  const tech = r.pick(TECHS);
  return {
    id,
    assay_id: a + 1,
    display_name: `${ASSAYS[a].label}-${mmddyy(created)}-${slot}`,
    date_created: qbDateTime(created),
    date_prepared: qbDateTime(created),
    last_updated: unixString(batches.lastUpdated[id]),
    sample_ids: [...sampleIds].sort((x, y) => x - y),
    test_ids: testIds,
    batch_status: complete ? 'COMPLETED' : 'IN PROGRESS',
    batch_complete: complete,
    batch_processed: complete,
    worksheet_id: 100 + a,
    worksheet_json: JSON.stringify({ template: `${ASSAYS[a].label} worksheet v3`, rows: testIds.length }),
    tags: [],
    tech: { id: tech.id, name: tech.name },
  };
}

// --------------------------------------------------------------------------------------------- assays

export function renderAssay(st: Store, id: number): Json {
  const a = ASSAYS[id - 1];
  const t = st.assayCreated + id * 60;
  return {
    id,
    title: a.title,
    label_abbr: a.label,
    duration: `${a.hours} hours`,
    default_technician_id: TECHS[(id - 1) % TECHS.length].id,
    tags: [],
    date_created: qbDateTime(t),
    last_updated: unixString(t),
  };
}

// --------------------------------------------------------------------------------------------- reports

export function renderReport(st: Store, id: number): Json {
  const { reports, samples, tests } = st;
  const r = recordRng(st.seed, TAG.report, id);
  const sid = reports.sample[id];
  const at = reports.created[id];
  const testIds: number[] = [];
  const ft = samples.firstTest[sid];
  for (let t = ft; t < ft + samples.testCount[sid]; t++) {
    if (tests.end[t] === at && tests.endKind[t] === END_REPORTED && !tests.deleted[t]) testIds.push(t);
  }
  const when = qbDateTime(at);
  return {
    id,
    order_id: null,
    sample_id: sid,
    test_id: null,
    report_config_id: r.pick([1, 2, 3]),
    id_hash: r.hex(32),
    date_generated: when,
    date_published: when,
    date_public: when,
    date_emailed: when,
    render_status: 'SUCCESSFUL',
    state: 'PUBLISHED',
    is_public: true,
    emailed: true,
    generated_by: { id: TECHS[0].id, name: TECHS[0].name },
    // A JSON string, not an object, as QBench sends it.
    render_params: JSON.stringify({ test_ids: testIds, template: 'COA' }),
    last_updated: unixString(at),
  };
}

// --------------------------------------------------------------------------------------------- dispatch

export function render(st: Store, entity: SimEntity, id: number, opts: RenderOptions = {}): Json {
  switch (entity) {
    case 'customer':
      return renderCustomer(st, id);
    case 'order':
      return renderOrder(st, id, opts);
    case 'sample':
      return renderSample(st, id, opts);
    case 'test':
      return renderTest(st, id, opts);
    case 'batch':
      return renderBatch(st, id);
    case 'assay':
      return renderAssay(st, id);
    case 'report':
      return renderReport(st, id);
  }
}
