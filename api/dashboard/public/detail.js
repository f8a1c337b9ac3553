// The detail side panel: one customer, order, sample or test (GET /api/v1/entities/{kind}/{id}) and its raw
// history (GET /api/v1/entities/{kind}/{id}/history: each landed event with fetched_at, run_id and what
// changed). Links inside the panel open related records; Back returns to the previous one.

import { api, isAbort } from './api.js';
import { fmtDateTime, fmtHours } from './format.js';
import { el, clear } from './dom.js';

/** @typedef {'customers'|'orders'|'samples'|'tests'} Kind */

export const KINDS = /** @type {const} */ (['customers', 'orders', 'samples', 'tests']);
/** @type {Record<string, string>} */
export const SINGULAR = { customers: 'Customer', orders: 'Order', samples: 'Sample', tests: 'Test', batches: 'Batch' };
/** Fields whose value is the id of another record. @type {Record<string, Kind>} */
const ID_FIELDS = {
  customer_id: 'customers', customer_account_id: 'customers', order_id: 'orders', sample_id: 'samples', test_id: 'tests',
};
/** Nested objects / arrays named after a kind. @type {Record<string, Kind>} */
const NESTED = {
  customer: 'customers', customers: 'customers', order: 'orders', orders: 'orders', recent_orders: 'orders', sample: 'samples', samples: 'samples', test: 'tests', tests: 'tests',
};
/** Preferred first columns for tables of related records. */
const COLUMN_ORDER = ['id', 'custom_formatted_id', 'label_abbr', 'title', 'customer_name', 'name', 'state', 'sample_type', 'date_created', 'report_completed_date', 'completed_date', 'tat_hours'];

const dialog = /** @type {HTMLDialogElement} */ (document.getElementById('detail'));
const titleEl = /** @type {HTMLElement} */ (document.getElementById('detail-title'));
const bodyEl = /** @type {HTMLElement} */ (document.getElementById('detail-body'));
const backBtn = /** @type {HTMLButtonElement} */ (document.getElementById('detail-back'));
const closeBtn = /** @type {HTMLButtonElement} */ (document.getElementById('detail-close'));

const HISTORY_PARAMS = { limit: 50, include_records: false };

/** @type {Array<{kind: string, id: string}>} */
let stack = [];
/** @type {AbortController|undefined} */
let inflight;
/** @type {() => Record<string, unknown>} */
let extraParams = () => ({});

/** @param {{ params?: () => Record<string, unknown> }} [o] */
export function initDetail(o = {}) {
  if (o.params) extraParams = o.params;
  closeBtn.addEventListener('click', () => closeDetail());
  backBtn.addEventListener('click', () => {
    stack.pop();
    const prev = stack.pop();
    if (prev) void openDetail(prev.kind, prev.id);
  });
  dialog.addEventListener('close', () => {
    stack = [];
    inflight?.abort();
  });
  // Clicking the backdrop (outside the panel) closes it.
  dialog.addEventListener('click', (ev) => {
    if (ev.target === dialog) closeDetail();
  });
  // Any element with data-entity-kind/data-entity-id opens that record (tables, charts' lists, the panel).
  document.addEventListener('click', (ev) => {
    const t = /** @type {HTMLElement|null} */ (/** @type {HTMLElement} */ (ev.target)?.closest?.('[data-entity-kind][data-entity-id]'));
    if (!t) return;
    ev.preventDefault();
    void openDetail(/** @type {string} */ (t.dataset.entityKind), /** @type {string} */ (t.dataset.entityId));
  });
}

export function closeDetail() {
  if (dialog.open) dialog.close();
}

/**
 * A button that opens a record's detail.
 * @param {string} kind @param {number|string} id @param {string} [text]
 */
export function entityLink(kind, id, text) {
  const label = text ?? `${SINGULAR[kind] ?? kind} ${id}`;
  return el('button', { type: 'button', class: 'link', 'data-entity-kind': kind, 'data-entity-id': String(id), title: `Open ${SINGULAR[kind]?.toLowerCase() ?? kind} ${id}` }, label);
}

/**
 * @param {string} kind
 * @param {string|number} id
 */
export async function openDetail(kind, id) {
  const key = String(id).trim();
  if (!KINDS.includes(/** @type {Kind} */ (kind)) || !/^\d+$/.test(key)) return;
  inflight?.abort();
  const ctl = new AbortController();
  inflight = ctl;
  stack.push({ kind, id: key });
  backBtn.hidden = stack.length < 2;
  titleEl.textContent = `${SINGULAR[kind]} ${key}`;
  clear(bodyEl);
  bodyEl.append(el('p', { class: 'muted loading' }, 'Loading…'));
  dialog.dataset.kind = kind;
  dialog.dataset.id = key;
  dialog.dataset.state = 'loading';
  if (!dialog.open) dialog.showModal();
  closeBtn.focus();

  const base = `/api/v1/entities/${kind}/${key}`;
  const historyPath = `${base}/history`;
  const [detail, history] = await Promise.allSettled([
    api(kind === 'tests' || kind === 'samples' ? `${base}/full` : base, { params: kind === 'customers' ? {} : extraParams(), signal: ctl.signal }),
    api(historyPath, { params: HISTORY_PARAMS, signal: ctl.signal }),
  ]);
  if (ctl.signal.aborted) return;
  clear(bodyEl);
  if (detail.status === 'rejected' && isAbort(detail.reason)) return;

  /** @type {HTMLElement[]} */
  let extra = [];
  if (detail.status === 'rejected') {
    const e = detail.reason;
    bodyEl.append(el('p', { class: 'error', role: 'alert' }, e?.status === 404 ? `${SINGULAR[kind]} ${key} was not found in the warehouse.` : `Could not load this record: ${e?.message ?? e}`));
  } else {
    extra = renderDetail(kind, detail.value);
  }

  const hs = el('section', { class: 'history', 'aria-labelledby': 'history-title' }, el('h3', { id: 'history-title' }, 'Raw history'));
  if (history.status === 'rejected') {
    const e = history.reason;
    hs.append(el('p', { class: e?.status === 404 ? 'muted' : 'error' }, e?.status === 404 ? 'No raw events for this record.' : `Could not load the history: ${e?.message ?? e}`));
  } else {
    renderHistory(hs, history.value, historyPath);
  }
  bodyEl.append(hs);
  if (extra.length) bodyEl.append(el('h3', { class: 'more-title' }, 'Related records and raw payload'), ...extra);
  dialog.dataset.state = detail.status === 'fulfilled' ? 'loaded' : 'error';
}

// ------------------------------------------------------------------------------------------------ record

/** @param {unknown} v */
const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Fields shown in the nested sections rather than the main list. */
const COLLAPSED_FIELDS = new Set(['payload', 'sla']);

/**
 * The record's own fields (with its SLA status and links to its relatives) into the panel; returns the
 * collapsible sections (relatives' fields, the raw payload) shown after the history.
 * @param {string} kind @param {any} body @returns {HTMLElement[]}
 */
function renderDetail(kind, body) {
  const singular = kind.replace(/s$/, '');
  /** @type {Record<string, any>} */
  let main = body;
  /** @type {Array<[string, any]>} */
  const related = [];
  if (isPlainObject(body?.[singular])) {
    main = body[singular];
    for (const [k, v] of Object.entries(body)) if (k !== singular) related.push([k, v]);
  }
  const state = main?.state;
  if (state) titleEl.append(' ', el('span', { class: 'badge', 'data-state': state }, String(state)));
  if (main?.deleted) titleEl.append(' ', el('span', { class: 'badge', 'data-state': 'CANCELLED' }, 'deleted'));

  // Relatives as links: the sample, order and customer objects of the answer (and counts of child lists).
  const links = el('p', { class: 'related-links' });
  for (const [k, v] of related) {
    const kk = NESTED[k];
    if (kk && isPlainObject(v) && v.id != null) {
      if (links.childNodes.length) links.append(' · ');
      const name = v.customer_name ?? v.custom_formatted_id ?? v.sample_name ?? null;
      links.append(entityLink(kk, v.id, `${SINGULAR[kk]} ${v.id}${name ? ` (${name})` : ''}`));
    } else if (Array.isArray(v) && v.length && isPlainObject(v[0])) {
      if (links.childNodes.length) links.append(' · ');
      links.append(el('span', { class: 'muted' }, `${v.length} ${labelOf(k)}`));
    }
  }
  if (links.childNodes.length) bodyEl.append(links);

  const dl = el('dl', { class: 'kv' });
  if (isPlainObject(main?.sla)) dl.append(el('dt', {}, 'SLA'), el('dd', {}, slaText(main.sla)));
  /** @type {Array<[string, any]>} */
  const nested = [];
  for (const [k, v] of Object.entries(main ?? {})) {
    if (COLLAPSED_FIELDS.has(k) || isPlainObject(v) || (Array.isArray(v) && v.some(isPlainObject))) {
      if (k !== 'sla') nested.push([k, v]);
      continue;
    }
    dl.append(el('dt', {}, labelOf(k)), el('dd', {}, valueNode(k, v)));
  }
  bodyEl.append(el('section', { class: 'record', 'aria-label': `${SINGULAR[kind]} fields` }, dl));
  return [...related, ...nested].filter(([, v]) => v != null).map(([k, v]) => collapsible(k, v));
}

/** @param {any} sla */
function slaText(sla) {
  const status = String(sla.status ?? 'unknown').replace(/_/g, ' ');
  const parts = [status];
  if (sla.tat_hours != null) parts.push(`TAT ${fmtHours(sla.tat_hours)}`);
  else if (sla.completion_hours != null) parts.push(`completed in ${fmtHours(sla.completion_hours)}`);
  else if (sla.age_hours != null) parts.push(`open ${fmtHours(sla.age_hours)}`);
  if (sla.sla_hours != null) parts.push(`SLA ${sla.sla_hours} h`);
  const cls = /within|on track/.test(status) ? 'good' : /beyond|overdue/.test(status) ? 'bad' : /risk/.test(status) ? 'warn' : '';
  return el('span', { class: `sla ${cls}`.trim() }, parts.join(' · '));
}

/** A nested object or list in a <details> (closed), titled with its name and size. @param {string} key @param {any} v */
function collapsible(key, v) {
  const d = el('details', { class: 'nested' });
  const count = Array.isArray(v) ? ` (${v.length})` : '';
  const what = key === 'payload' ? 'raw payload (as landed from QBench)' : labelOf(key);
  d.append(el('summary', {}, `${what}${count}`));
  const inner = renderNested(key, v);
  const head = inner.querySelector(':scope > h3');
  if (head) {
    const link = head.querySelector('button');
    if (link) head.replaceWith(el('p', { class: 'small' }, link));
    else head.remove();
  }
  d.append(inner);
  return d;
}

/** @param {string} k */
const labelOf = (k) => k.replace(/_/g, ' ');

/** @param {string} key @param {any} v @returns {Node|string} */
function valueNode(key, v) {
  if (v === null || v === undefined || v === '') return el('span', { class: 'muted' }, '–');
  if (ID_FIELDS[key] && (typeof v === 'number' || /^\d+$/.test(String(v)))) return entityLink(ID_FIELDS[key], v, String(v));
  if (Array.isArray(v)) {
    if (/(^|_)(test|sample|order)_ids$/.test(key) || key === 'test_ids' || key === 'sample_ids') {
      const kind = key.startsWith('test') ? 'tests' : key.startsWith('sample') ? 'samples' : 'orders';
      const span = el('span', { class: 'id-list' });
      v.slice(0, 50).forEach((id, i) => {
        if (i) span.append(', ');
        span.append(entityLink(kind, id, String(id)));
      });
      if (v.length > 50) span.append(` … (${v.length})`);
      return span;
    }
    return v.length ? v.map((x) => (isPlainObject(x) ? JSON.stringify(x) : String(x))).join(', ') : el('span', { class: 'muted' }, 'none');
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number' && /hours$/.test(key)) return fmtHours(v);
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v)) {
    return el('time', { datetime: v, title: v }, fmtDateTime(v));
  }
  return String(v);
}

/** @param {string} key @param {any} v */
function renderNested(key, v) {
  const kind = NESTED[key];
  const section = el('section', { class: 'nested' });
  if (Array.isArray(v)) {
    section.append(el('h3', {}, `${labelOf(key)} (${v.length})`));
    if (!v.length) {
      section.append(el('p', { class: 'muted' }, 'none'));
      return section;
    }
    const cols = columnsOf(v);
    const table = el('table', { class: 'data-table compact' },
      el('thead', {}, el('tr', {}, ...cols.map((c) => el('th', { scope: 'col' }, labelOf(c))))));
    const tbody = el('tbody');
    for (const row of v.slice(0, 200)) {
      tbody.append(el('tr', {}, ...cols.map((c) => el('td', {}, c === 'id' && kind ? entityLink(kind, row.id, String(row.id)) : valueNode(c, row?.[c])))));
    }
    table.append(tbody);
    section.append(el('div', { class: 'table-wrap' }, table));
    return section;
  }
  if (isPlainObject(v)) {
    const head = el('h3', {}, labelOf(key));
    if (kind && v.id != null) head.append(' ', entityLink(kind, v.id, `open ${SINGULAR[kind].toLowerCase()} ${v.id}`));
    section.append(head);
    const dl = el('dl', { class: 'kv' });
    for (const [k, x] of Object.entries(v)) {
      if (isPlainObject(x) || (Array.isArray(x) && x.some(isPlainObject))) {
        section.append(renderNested(k, x));
        continue;
      }
      dl.append(el('dt', {}, labelOf(k)), el('dd', {}, valueNode(k, x)));
    }
    section.insertBefore(dl, head.nextSibling);
    return section;
  }
  section.append(el('h3', {}, labelOf(key)), el('p', {}, valueNode(key, v)));
  return section;
}

/** @param {any[]} rows */
function columnsOf(rows) {
  const seen = new Set();
  for (const r of rows.slice(0, 20)) for (const k of Object.keys(r ?? {})) if (!isPlainObject(r[k]) && !Array.isArray(r[k])) seen.add(k);
  const ordered = COLUMN_ORDER.filter((c) => seen.has(c));
  for (const c of seen) if (!ordered.includes(c) && ordered.length < 7) ordered.push(c);
  return ordered.slice(0, 7);
}

// ------------------------------------------------------------------------------------------------ history

/**
 * Changes of one event as [field, before, after] triples, whatever shape the API uses:
 * [{field|path|key, old|before|from, new|after|to}] or {field: {old, new}} or {field: [old, new]}.
 * @param {any} ev
 * @returns {Array<[string, unknown, unknown]> | null}
 */
export function changesOf(ev) {
  const c = ev && 'changes' in ev ? ev.changes : ev?.diff ?? null;
  if (c == null) return null;
  /** @type {Array<[string, unknown, unknown]>} */
  const out = [];
  if (Array.isArray(c)) {
    for (const x of c) {
      if (typeof x === 'string') out.push([x, undefined, undefined]);
      else {
        const pick = (/** @type {string[]} */ names) => { for (const n of names) if (x && n in x) return x[n]; return undefined; };
        out.push([String(x.field ?? x.path ?? x.key ?? x.name ?? '?'), pick(['old', 'before', 'from', 'previous']), pick(['new', 'after', 'to', 'value', 'current'])]);
      }
    }
  } else if (isPlainObject(c)) {
    for (const [k, x] of Object.entries(c)) {
      if (Array.isArray(x) && x.length === 2) out.push([k, x[0], x[1]]);
      else if (isPlainObject(x) && ('old' in x || 'new' in x || 'before' in x || 'after' in x || 'from' in x || 'to' in x)) out.push([k, x.old ?? x.before ?? x.from, x.new ?? x.after ?? x.to]);
      else out.push([k, undefined, x]);
    }
  }
  return out;
}

/** @param {unknown} v */
function short(v) {
  if (v === undefined) return '';
  if (v === null) return 'null';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}

/** @param {any} ev */
function eventItem(ev) {
  const at = ev.fetched_at ?? ev.at;
  const source = ev.fetch_kind ?? ev.kind ?? ev.source;
  const head = el('div', { class: 'event-head' },
    el('time', { datetime: at ?? '', title: at ?? '' }, fmtDateTime(at)),
    source ? el('span', { class: 'tag', title: 'how the record arrived: a list page, a detail fetch or the updates feed' }, String(source)) : '',
    ev.run_id ? el('span', { class: 'run', title: `sync run ${ev.run_id}` }, `run ${String(ev.run_id).slice(0, 8)}`) : '');
  const li = el('li', { class: 'event', 'data-fetch-id': ev.fetch_id ?? '' }, head);
  if (ev.endpoint) li.append(el('div', { class: 'muted small mono' }, `${ev.endpoint}${ev.page_number != null ? ` · page ${ev.page_number}` : ''}`));
  const changes = changesOf(ev);
  if (changes === null) {
    li.append(el('p', { class: 'small' }, 'First seen: the record as first landed.'));
  } else if (!changes.length) {
    li.append(el('p', { class: 'small muted' }, 'Fetched again, unchanged.'));
  } else {
    const raw = Array.isArray(ev.changes) ? ev.changes : [];
    const ul = el('ul', { class: 'changes' });
    changes.slice(0, 60).forEach(([field, before, after], i) => {
      const kind = raw[i]?.change;
      const li2 = el('li', {}, el('code', {}, field), ': ');
      if (kind === 'added') li2.append(el('ins', {}, short(after)), el('span', { class: 'muted' }, ' (added)'));
      else if (kind === 'removed') li2.append(el('del', {}, short(before)), el('span', { class: 'muted' }, ' (removed)'));
      else {
        if (before !== undefined) li2.append(el('del', {}, short(before)), ' → ');
        li2.append(el('ins', {}, short(after)));
      }
      ul.append(li2);
    });
    if (changes.length > 60) ul.append(el('li', { class: 'muted' }, `… ${changes.length - 60} more`));
    li.append(ul);
  }
  return li;
}

/**
 * Events in the API's order (oldest first), with "Load more" while the API has more (next_after_fetch_id).
 * @param {HTMLElement} section @param {any} body @param {string} path
 */
function renderHistory(section, body, path) {
  const events = Array.isArray(body) ? body : body?.events ?? body?.history ?? body?.items ?? [];
  if (!events.length) {
    section.append(el('p', { class: 'muted' }, 'No raw events for this record.'));
    return;
  }
  const summary = el('p', { class: 'muted history-summary' });
  const list = el('ol', { class: 'history-list' });
  let shown = 0;
  let versions = 0;
  /** @param {any} b */
  const add = (b) => {
    const evs = Array.isArray(b) ? b : b?.events ?? [];
    for (const ev of evs) list.append(eventItem(ev));
    shown += evs.length;
    versions += b?.versions ?? evs.filter((/** @type {any} */ e) => e.changed !== false).length;
    summary.textContent = `${shown} raw event${shown === 1 ? '' : 's'} carried this record (${versions} distinct version${versions === 1 ? '' : 's'}), oldest first.`;
  };
  add(body);
  section.append(summary, list);
  let next = body?.next_after_fetch_id ?? null;
  if (next != null) {
    const more = el('button', { type: 'button', class: 'ghost small' }, 'Load more events');
    more.addEventListener('click', async () => {
      more.setAttribute('disabled', '');
      try {
        const b = await api(path, { params: { ...HISTORY_PARAMS, after_fetch_id: next } });
        add(b);
        next = b?.next_after_fetch_id ?? null;
        if (next == null) more.remove();
        else more.removeAttribute('disabled');
      } catch (err) {
        more.replaceWith(el('p', { class: 'error' }, `Could not load more: ${/** @type {Error} */ (err).message}`));
      }
    });
    section.append(more);
  }
}
