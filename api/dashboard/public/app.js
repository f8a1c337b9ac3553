// The dashboard page: token form, filters (kept in the URL), KPI cards, charts and tables, detail panel and
// the Update button. Plain ES modules, no build step; Chart.js is window.Chart (the UMD build).

import { api, ApiError, clearToken, getToken, isAbort, setToken } from './api.js';
import { axes, alpha, chartsAvailable, COLORS, draw, stateColor } from './charts.js';
import { closeDetail, entityLink, initDetail, openDetail } from './detail.js';
import { $, clear, el, message } from './dom.js';
import { addDays, dayDiff, dayInTz, daysBetween, fmtDate, fmtHours, fmtInt, fmtPct, fmtState, isDay, shortDay } from './format.js';
import { initSync, startSyncWatch, stopSyncWatch } from './sync.js';

/** @typedef {{ from: string, to: string, customer: string, testState: string, orderState: string, sla: string }} Filters */

const DEFAULT_DAYS = 7;
const MA_WINDOW = 7;
const ORDER_STATES = ['CREATED', 'ON HOLD', 'IN PROGRESS', 'COMPLETED', 'REPORTED', 'CANCELLED'];
const DATA_POLL_MS = 15_000;

const state = {
  /** The lab's time zone (days are counted in it). */
  tz: 'UTC',
  /** The default range's last day and why. @type {{ to: string, note: string }} */
  defaultEnd: { to: '', note: '' },
  /** The SLA the server uses when none is given. */
  serverSla: 48,
  /** @type {Filters|null} */
  filters: null,
  /** @type {AbortController|undefined} */
  loadCtl: undefined,
  loads: 0,
  /** ETag of common/filters: changes whenever transformed data changes. @type {string|null} */
  dataVersion: null,
  /** @type {ReturnType<typeof setTimeout>|undefined} */
  dataTimer: undefined,
  signedIn: false,
};

const form = /** @type {HTMLFormElement} */ ($('filters'));
const fFrom = /** @type {HTMLInputElement} */ ($('f-from'));
const fTo = /** @type {HTMLInputElement} */ ($('f-to'));
const fCustomer = /** @type {HTMLSelectElement} */ ($('f-customer'));
const fTestState = /** @type {HTMLSelectElement} */ ($('f-test-state'));
const fOrderState = /** @type {HTMLSelectElement} */ ($('f-order-state'));
const fSla = /** @type {HTMLInputElement} */ ($('f-sla'));
const banner = $('error-banner');

// ------------------------------------------------------------------------------------------------ sign-in

/** @param {string} [msg] @param {boolean} [isError] */
function showLogin(msg, isError = true) {
  state.signedIn = false;
  state.loadCtl?.abort();
  clearTimeout(state.dataTimer);
  stopSyncWatch();
  closeDetail();
  $('dashboard').hidden = true;
  $('sync-bar').hidden = true;
  $('login').hidden = false;
  const m = $('login-message');
  m.className = isError ? 'error' : 'note';
  message(m, msg);
  const input = /** @type {HTMLInputElement} */ ($('token-input'));
  input.value = '';
  input.focus();
  document.body.dataset.view = 'login';
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('token-input'));
  const token = input.value.trim();
  if (!token) {
    message($('login-message'), 'Enter a token.');
    return;
  }
  setToken(token);
  try {
    const filters = await api('/api/v1/metrics/common/filters');
    await enterDashboard(filters);
  } catch (err) {
    const e = /** @type {ApiError} */ (err);
    if (e.status === 401) {
      clearToken();
      showLogin('That token was refused: it is unknown, expired or revoked.');
    } else {
      message($('login-message'), `Could not reach the API: ${e.message}`);
    }
  }
});

window.addEventListener('qbsync:unauthorized', () => {
  if (document.body.dataset.view === 'login') return;
  clearToken();
  showLogin('Your session ended: the token was refused (unknown, expired or revoked). Enter a token again.');
});

$('signout-btn').addEventListener('click', () => {
  clearToken();
  showLogin('Signed out. The token was removed from this browser.', false);
});

// ------------------------------------------------------------------------------------------------ filters

/** Filters from the URL (invalid values dropped). @returns {Partial<Filters>} */
function filtersFromUrl() {
  const q = new URLSearchParams(location.search);
  /** @type {Partial<Filters>} */
  const f = {};
  const from = q.get('from');
  const to = q.get('to');
  if (isDay(from)) f.from = from;
  if (isDay(to)) f.to = to;
  const c = q.get('customer');
  if (c && /^\d+$/.test(c)) f.customer = c;
  const ts = q.get('test_state');
  if (ts) f.testState = ts;
  const os = q.get('order_state');
  if (os) f.orderState = os;
  const sla = q.get('sla');
  if (sla && /^\d+(\.\d+)?$/.test(sla) && Number(sla) > 0) f.sla = sla;
  return f;
}

/** @param {Partial<Filters>} p @returns {Filters} */
function withDefaults(p) {
  let to = p.to ?? state.defaultEnd.to;
  let from = p.from ?? addDays(to, -(DEFAULT_DAYS - 1));
  if (p.from && !p.to) to = addDays(p.from, DEFAULT_DAYS - 1);
  if (from > to) [from, to] = [to, from];
  return { from, to, customer: p.customer ?? '', testState: p.testState ?? '', orderState: p.orderState ?? '', sla: p.sla ?? '' };
}

/** @param {Filters} f */
function urlOf(f) {
  const q = new URLSearchParams();
  q.set('from', f.from);
  q.set('to', f.to);
  if (f.customer) q.set('customer', f.customer);
  if (f.testState) q.set('test_state', f.testState);
  if (f.orderState) q.set('order_state', f.orderState);
  if (f.sla) q.set('sla', f.sla);
  return `${location.pathname}?${q.toString()}`;
}

/** @param {Filters} f */
function fillForm(f) {
  fFrom.value = f.from;
  fTo.value = f.to;
  ensureOption(fCustomer, f.customer, `Customer ${f.customer}`);
  fCustomer.value = f.customer;
  ensureOption(fTestState, f.testState, f.testState);
  fTestState.value = f.testState;
  ensureOption(fOrderState, f.orderState, f.orderState);
  fOrderState.value = f.orderState;
  fSla.value = f.sla;
}

/** @param {HTMLSelectElement} select @param {string} value @param {string} label */
function ensureOption(select, value, label) {
  if (!value || [...select.options].some((o) => o.value === value)) return;
  select.append(el('option', { value }, label));
}

/** @returns {Filters|null} */
function readForm() {
  const from = fFrom.value;
  const to = fTo.value;
  if (!isDay(from) || !isDay(to)) {
    message(banner, 'Choose both dates of the range.');
    return null;
  }
  if (from > to) {
    message(banner, 'The range starts after it ends: "From" must be on or before "To".');
    return null;
  }
  const sla = fSla.value.trim();
  if (sla && !(Number(sla) > 0)) {
    message(banner, 'The SLA must be a positive number of hours.');
    return null;
  }
  message(banner, null);
  return { from, to, customer: fCustomer.value, testState: fTestState.value, orderState: fOrderState.value, sla };
}

/** @param {Filters} f @param {'push'|'replace'|'none'} history */
function applyFilters(f, history = 'push') {
  const same = state.filters && JSON.stringify(state.filters) === JSON.stringify(f);
  state.filters = f;
  fillForm(f);
  const target = urlOf(f);
  if (history === 'push' && target !== location.pathname + location.search) window.history.pushState(null, '', target);
  else if (history === 'replace') window.history.replaceState(null, '', target);
  updateRangeNote();
  if (!same || history !== 'push') void loadAll();
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = readForm();
  if (f) applyFilters(f);
});
for (const input of [fFrom, fTo, fCustomer, fTestState, fOrderState, fSla]) {
  input.addEventListener('change', () => {
    const f = readForm();
    if (f) applyFilters(f);
  });
}
for (const b of form.querySelectorAll('[data-days]')) {
  b.addEventListener('click', () => {
    const n = Number(/** @type {HTMLElement} */ (b).dataset.days);
    const to = isDay(fTo.value) ? fTo.value : state.defaultEnd.to;
    const f = readForm() ?? withDefaults({});
    applyFilters({ ...f, to, from: addDays(to, -(n - 1)) });
  });
}
$('f-reset').addEventListener('click', () => applyFilters(withDefaults({})));
window.addEventListener('popstate', () => {
  if (state.signedIn) applyFilters(withDefaults(filtersFromUrl()), 'none');
});

function updateRangeNote() {
  const f = state.filters;
  if (!f) return;
  const days = dayDiff(f.from, f.to) + 1;
  const parts = [`${days} day${days === 1 ? '' : 's'}: ${fmtDate(`${f.from}T12:00:00Z`)} – ${fmtDate(`${f.to}T12:00:00Z`)} (lab days, ${state.tz}).`];
  const isDefaultEnd = f.to === state.defaultEnd.to;
  if (state.defaultEnd.note && isDefaultEnd) parts.push(state.defaultEnd.note);
  $('range-note').textContent = parts.join(' ');
}

// ------------------------------------------------------------------------------------------------ start

/**
 * The default range ends at the last day with data: today in the lab's time zone, unless QBench's own clock
 * at the last sync (the tests watermark; a simulator's clock may be in the past) or, lacking it, the last
 * landed data is older.
 */
async function computeDefaultEnd(/** @type {any} */ filters) {
  const today = dayInTz(new Date(), state.tz);
  /** @type {string|null} */
  let source = null;
  let what = '';
  try {
    const s = await api('/api/v1/metrics/sync/status', { params: { entity: 'tests' } });
    if (s?.watermark_at) {
      source = s.watermark_at;
      what = "QBench's clock at the last sync";
    }
  } catch (err) {
    if (/** @type {ApiError} */ (err).status === 401) throw err;
  }
  if (!source && filters?.last_updated_at) {
    source = filters.last_updated_at;
    what = 'the last data landed';
  }
  if (!source) return { to: today, note: 'No data has been synced yet.' };
  const day = dayInTz(source, state.tz);
  if (day < today) return { to: day, note: `The newest data is from ${fmtDate(source)} (${what}), before today: the default range ends on that day.` };
  return { to: today, note: '' };
}

/** @param {any} [filtersResponse] common/filters, when the caller already has it */
async function enterDashboard(filtersResponse) {
  document.body.dataset.view = 'dashboard';
  $('login').hidden = true;
  $('dashboard').hidden = false;
  $('sync-bar').hidden = false;
  message($('login-message'), null);
  state.signedIn = true;
  try {
    const ready = await api('/api/ready', { auth: false });
    if (ready?.timezone) state.tz = ready.timezone;
  } catch (err) {
    const body = /** @type {ApiError} */ (err).body;
    if (body && typeof body === 'object' && 'timezone' in body) state.tz = String(/** @type {any} */ (body).timezone);
  }
  $('lab-tz').textContent = state.tz;
  let filters = filtersResponse;
  try {
    const r = await api('/api/v1/metrics/common/filters', { withHeaders: true });
    filters = r.body;
    state.dataVersion = r.etag;
  } catch (err) {
    if (/** @type {ApiError} */ (err).status === 401) return;
    message(banner, `Could not load the filter values: ${/** @type {Error} */ (err).message}`);
  }
  fillFilterOptions(filters);
  try {
    state.defaultEnd = await computeDefaultEnd(filters);
  } catch {
    return;
  }
  startSyncWatch();
  applyFilters(withDefaults(filtersFromUrl()), 'replace');
  scheduleDataPoll();
}

/** @param {any} filters */
function fillFilterOptions(filters) {
  if (!filters) return;
  const keep = fCustomer.value;
  clear(fCustomer);
  fCustomer.append(el('option', { value: '' }, 'All customers'));
  for (const c of filters.customers ?? []) fCustomer.append(el('option', { value: String(c.id) }, c.name ? `${c.name} (${c.id})` : `Customer ${c.id}`));
  fCustomer.value = keep;
  const ts = fTestState.value;
  clear(fTestState);
  fTestState.append(el('option', { value: '' }, 'Any'));
  for (const s of filters.test_states ?? []) fTestState.append(el('option', { value: s }, s));
  fTestState.value = ts;
  const os = fOrderState.value;
  clear(fOrderState);
  fOrderState.append(el('option', { value: '' }, 'Any'));
  for (const s of ORDER_STATES) fOrderState.append(el('option', { value: s }, s));
  fOrderState.value = os;
}

/** Reloads the numbers when the warehouse's data changes (a sync + transform, from here or elsewhere). */
function scheduleDataPoll() {
  clearTimeout(state.dataTimer);
  state.dataTimer = setTimeout(() => void checkDataVersion(), document.hidden ? DATA_POLL_MS * 4 : DATA_POLL_MS);
}

async function checkDataVersion() {
  if (!state.signedIn) return;
  try {
    const r = await api('/api/v1/metrics/common/filters', { withHeaders: true });
    if (r.etag && state.dataVersion && r.etag !== state.dataVersion) {
      state.dataVersion = r.etag;
      fillFilterOptions(r.body);
      await loadAll();
    } else if (r.etag) state.dataVersion = r.etag;
  } catch {
    /* next time */
  }
  if (state.signedIn) scheduleDataPoll();
}

// ------------------------------------------------------------------------------------------------ loading

/** @param {string} card @param {boolean} busy */
function cardBusy(card, busy) {
  const c = document.querySelector(`[data-card="${card}"]`);
  c?.setAttribute('aria-busy', busy ? 'true' : 'false');
}

/** @param {string} card @param {string|null} msg */
function cardError(card, msg) {
  const c = document.querySelector(`[data-card="${card}"] .card-error`);
  if (c) message(/** @type {HTMLElement} */ (c), msg);
}

async function loadAll() {
  const f = state.filters;
  if (!f || !state.signedIn) return;
  state.loadCtl?.abort();
  const ctl = new AbortController();
  state.loadCtl = ctl;
  const signal = ctl.signal;
  document.body.dataset.loading = 'true';
  message(banner, null);

  const customer = f.customer || undefined;
  const testState = f.testState || undefined;
  const sla = f.sla || undefined;
  const range = { date_from: f.from, date_to: f.to };
  const days = dayDiff(f.from, f.to) + 1;

  /**
   * @param {string} card
   * @param {() => Promise<void>} fn
   */
  const run = async (card, fn) => {
    cardBusy(card, true);
    try {
      await fn();
      if (!signal.aborted) cardError(card, null);
    } catch (err) {
      if (isAbort(err) || signal.aborted) return;
      const e = /** @type {ApiError} */ (err);
      if (e.status === 401) return;
      cardError(card, `Could not load: ${e.message}`);
      throw err;
    } finally {
      if (!signal.aborted) cardBusy(card, false);
    }
  };
  /** @param {string} path @param {Record<string, unknown>} params */
  const get = (path, params) => api(path, { params, signal });

  const summaryP = get('/api/v1/metrics/summary', { ...range, customer_id: customer, state: testState, sla_hours: sla });
  const activityP = get('/api/v1/metrics/activity/daily', { ...range, customer_id: customer, compare_previous: true });
  summaryP.then((s) => {
    if (s?.sla_hours && !f.sla) {
      state.serverSla = Number(s.sla_hours);
      fSla.placeholder = String(s.sla_hours);
    }
  }, () => undefined);

  const tasks = [
    run('kpis', async () => renderKpis(await summaryP, await activityP.catch(() => null), f)),
    run('activity', async () => renderActivity(await activityP, f)),
    run('tat-daily', async () => {
      const out = await get('/api/v1/metrics/tests/tat-daily', {
        date_from: addDays(f.from, -2 * MA_WINDOW), date_to: f.to, customer_id: customer, state: testState, sla_hours: sla, moving_average_window: MA_WINDOW,
      });
      renderTatDaily(out, f);
    }),
    run('tat-dist', async () => {
      const out = await get('/api/v1/metrics/tests/tat', { date_created_from: f.from, date_created_to: f.to, customer_id: customer, state: testState, sla_hours: sla });
      renderTatDistribution(out);
    }),
    run('labels', async () => renderLabels(await get('/api/v1/metrics/tests/label-distribution', { ...range, customer_id: customer, state: testState }))),
    run('states', async () => renderStates(await get('/api/v1/analytics/tests/state-distribution', { ...range, customer_id: customer, interval: days > 62 ? 'week' : 'day' }), f, days > 62)),
    run('top-customers', async () => renderTopCustomers(await get('/api/v1/metrics/customers/top-tests', { ...range, limit: 10 }))),
    run('new-customers', async () => renderNewCustomers(await get('/api/v1/metrics/customers/new', { ...range, limit: 10 }))),
    run('slowest', async () => renderSlowest(await get('/api/v1/analytics/orders/slowest', { ...range, customer_id: customer, state: f.orderState || undefined, limit: 10 }))),
    run('overdue', async () => {
      const slaHours = Number(f.sla || (await summaryP.catch(() => null))?.sla_hours || state.serverSla);
      const minDays = Math.max(1, Math.ceil(slaHours / 24));
      const filtered = Boolean(customer || f.orderState);
      const out = await get('/api/v1/analytics/orders/overdue', { date_to: f.to, min_days_overdue: minDays, sla_hours: sla, top_limit: filtered ? 100 : 10 });
      renderOverdue(out, f, minDays);
    }),
  ];
  const results = await Promise.allSettled(tasks);
  if (signal.aborted) return;
  const failed = results.filter((r) => r.status === 'rejected').length;
  if (failed) message(banner, `${failed} part${failed === 1 ? '' : 's'} of the dashboard could not be loaded; see the cards below.`);
  state.loads += 1;
  document.body.dataset.loads = String(state.loads);
  document.body.dataset.loading = 'false';
}

// ------------------------------------------------------------------------------------------------ renderers

/** @param {Array<any>|null|undefined} rows @param {string} key */
const sum = (rows, key) => (rows ?? []).reduce((a, r) => a + (Number(r?.[key]) || 0), 0);

/** @param {string} kpi @param {string} value @param {string} [delta] @param {string} [cls] @param {string} [title] */
function setKpi(kpi, value, delta = '', cls = '', title = '') {
  const li = document.querySelector(`[data-kpi="${kpi}"]`);
  if (!li) return;
  /** @type {HTMLElement} */ (li.querySelector('.kpi-value')).textContent = value;
  const d = /** @type {HTMLElement} */ (li.querySelector('.kpi-delta'));
  d.textContent = delta;
  d.className = `kpi-delta ${cls}`.trim();
  if (title) li.setAttribute('title', title);
}

/** @param {number} cur @param {number} prev @param {number} days */
function delta(cur, prev, days) {
  if (!prev) return { text: cur ? `new vs previous ${days} d` : '', cls: '' };
  const r = (cur - prev) / prev;
  const arrow = r > 0.005 ? '▲' : r < -0.005 ? '▼' : '■';
  return { text: `${arrow} ${fmtPct(Math.abs(r))} vs previous ${days} d`, cls: r > 0.005 ? 'up' : r < -0.005 ? 'down' : '' };
}

/** @param {any} s @param {any} activity @param {Filters} f */
function renderKpis(s, activity, f) {
  const k = s?.kpis ?? {};
  const days = dayDiff(f.from, f.to) + 1;
  const prev = activity?.previous;
  const cmp = prev && !f.testState;
  const dS = cmp ? delta(k.total_samples, sum(prev, 'samples'), days) : { text: '', cls: '' };
  const dT = cmp ? delta(k.total_tests, sum(prev, 'tests'), days) : { text: '', cls: '' };
  const dR = cmp ? delta(k.total_reports, sum(prev, 'tests_reported'), days) : { text: '', cls: '' };
  setKpi('samples', fmtInt(k.total_samples), dS.text, dS.cls);
  setKpi('tests', fmtInt(k.total_tests), dT.text, dT.cls);
  setKpi('customers', fmtInt(k.total_customers), 'created in the range');
  setKpi('reports', fmtInt(k.total_reports), dR.text, dR.cls);
  setKpi('tat', fmtHours(k.average_tat_hours), 'Adult Use, Medical MJ, AU Cliente R&D', '', 'Mean report_completed_date − date_created of tests reported in the range whose sample type is Adult Use, Medical MJ or AU Cliente R&D');
  const slaH = s?.sla_hours ?? state.serverSla;
  const total = Number(k.total_reports) || 0;
  if (k.reports_within_sla != null) {
    setKpi('within', fmtInt(k.reports_within_sla), `${total ? fmtPct(k.reports_within_sla / total) : '–'} of reports ≤ ${slaH} h`);
    setKpi('beyond', fmtInt(k.reports_beyond_sla), `${total ? fmtPct(k.reports_beyond_sla / total) : '–'} of reports > ${slaH} h`);
  } else {
    setKpi('within', '–', 'not provided by the API');
    setKpi('beyond', '–', 'not provided by the API');
  }
}

/** @param {any} out @param {Filters} f */
function renderActivity(out, f) {
  const days = daysBetween(f.from, f.to);
  const n = days.length;
  const cur = new Map((out?.current ?? []).map((/** @type {any} */ r) => [r.date, r]));
  const prevDays = daysBetween(addDays(f.from, -n), addDays(f.from, -1));
  const prev = new Map((out?.previous ?? []).map((/** @type {any} */ r) => [r.date, r]));
  /** @param {Map<string, any>} m @param {string[]} ds @param {string} key */
  const series = (m, ds, key) => ds.map((d) => Number(m.get(d)?.[key] ?? 0));
  const line = (/** @type {string} */ label, /** @type {number[]} */ data, /** @type {string} */ color, dashed = false) => ({
    type: 'line', label, data, borderColor: dashed ? alpha(color, 0.55) : color, backgroundColor: dashed ? alpha(color, 0.55) : color,
    borderDash: dashed ? [5, 4] : undefined, borderWidth: dashed ? 1.5 : 2.5, pointRadius: n > 45 ? 0 : dashed ? 0 : 3, cubicInterpolationMode: 'monotone',
  });
  /** @type {any[]} */
  const datasets = [
    line('Samples', series(cur, days, 'samples'), COLORS.samples),
    line('Tests', series(cur, days, 'tests'), COLORS.tests),
    line('Tests reported', series(cur, days, 'tests_reported'), COLORS.reported),
  ];
  if (out?.previous) {
    datasets.push(
      line(`Samples (previous ${n} d)`, series(prev, prevDays, 'samples'), COLORS.samples, true),
      line(`Tests (previous ${n} d)`, series(prev, prevDays, 'tests'), COLORS.tests, true),
      line(`Reported (previous ${n} d)`, series(prev, prevDays, 'tests_reported'), COLORS.reported, true),
    );
  }
  const totals = `${sum(out?.current, 'samples')} samples, ${sum(out?.current, 'tests')} tests, ${sum(out?.current, 'tests_reported')} tests reported`;
  draw('chart-activity', {
    type: 'line',
    data: { labels: days.map(shortDay), datasets },
    options: {
      ...axes({ yTitle: 'per day' }),
      plugins: {
        legend: { position: 'bottom' },
        tooltip: { callbacks: { title: (/** @type {any[]} */ items) => {
          const i = items[0]?.dataIndex ?? 0;
          return out?.previous ? `${days[i]} (previous: ${prevDays[i]})` : days[i];
        } } },
      },
    },
  }, `Daily activity from ${f.from} to ${f.to}: ${totals}.`);
}

/** @param {any} out @param {Filters} f */
function renderTatDaily(out, f) {
  const days = daysBetween(f.from, f.to);
  const pts = new Map((out?.points ?? []).map((/** @type {any} */ p) => [p.date, p]));
  const ma = new Map((out?.moving_average_hours ?? []).map((/** @type {any} */ p) => [p.period_start, p.value]));
  const sla = Number(out?.sla_hours ?? f.sla ?? state.serverSla);
  const avg = days.map((d) => (pts.get(d)?.average_hours == null ? null : Number(pts.get(d).average_hours)));
  const reported = days.filter((d) => pts.get(d)?.average_hours != null).length;
  draw('chart-tat-daily', {
    type: 'bar',
    data: {
      labels: days.map(shortDay),
      datasets: [
        { type: 'bar', label: 'Mean TAT (h)', data: avg, backgroundColor: alpha(COLORS.tat, 0.7), borderColor: COLORS.tat, borderWidth: 1, order: 3 },
        { type: 'line', label: `Moving average (${MA_WINDOW} report days)`, data: days.map((d) => (ma.has(d) ? Number(ma.get(d)) : null)), borderColor: COLORS.movingAverage, backgroundColor: COLORS.movingAverage, borderWidth: 2.5, pointRadius: days.length > 45 ? 0 : 2, spanGaps: true, cubicInterpolationMode: 'monotone', order: 2 },
        { type: 'line', label: `SLA (${sla} h)`, data: days.map(() => sla), borderColor: COLORS.sla, backgroundColor: COLORS.sla, borderDash: [6, 4], borderWidth: 2, pointRadius: 0, order: 1 },
      ],
    },
    options: {
      ...axes({ yTitle: 'hours' }),
      plugins: {
        legend: { position: 'bottom' },
        tooltip: { callbacks: { afterBody: (/** @type {any[]} */ items) => {
          const p = pts.get(days[items[0]?.dataIndex ?? 0]);
          return p ? [`Within SLA: ${p.within_sla ?? '–'}`, `Beyond SLA: ${p.beyond_sla ?? '–'}`] : [];
        } } },
      },
    },
  }, `Mean turnaround time per day, ${reported} days with reports, SLA ${sla} hours.`);
}

/** @param {any} out */
function renderTatDistribution(out) {
  const dist = out?.distribution ?? [];
  const sla = Number(out?.sla_hours ?? state.serverSla);
  /** @param {string} label */
  const color = (label) => {
    const m = /^(\d+)-(\d+)h$/.exec(label);
    const lo = m ? Number(m[1]) : Number((/(\d+)/.exec(label) ?? ['', '0'])[1]);
    const hi = m ? Number(m[2]) : Infinity;
    if (hi <= sla) return COLORS.within;
    if (lo >= sla) return COLORS.beyond;
    return COLORS.near;
  };
  draw('chart-tat-dist', {
    type: 'bar',
    data: {
      labels: dist.map((/** @type {any} */ b) => b.label),
      datasets: [{ label: 'Tests reported', data: dist.map((/** @type {any} */ b) => Number(b.count)), backgroundColor: dist.map((/** @type {any} */ b) => alpha(color(b.label), 0.75)), borderColor: dist.map((/** @type {any} */ b) => color(b.label)), borderWidth: 1 }],
    },
    options: { ...axes({ yTitle: 'tests', legend: false }) },
  }, `TAT distribution: ${dist.map((/** @type {any} */ b) => `${b.label} ${b.count}`).join(', ')}.`);
  const m = out?.metrics ?? {};
  $('tat-stats').textContent = `Reported in the range · mean ${fmtHours(m.average_hours)} · median ${fmtHours(m.median_hours)} · p95 ${fmtHours(m.p95_hours)} · ${fmtInt(m.completed_within_sla)} within / ${fmtInt(m.completed_beyond_sla)} beyond ${sla} h`;
}

/** @param {any} out */
function renderLabels(out) {
  const labels = out?.labels ?? [];
  draw('chart-labels', {
    type: 'bar',
    data: {
      labels: labels.map((/** @type {any} */ l) => l.label),
      datasets: [{ label: 'Tests', data: labels.map((/** @type {any} */ l) => Number(l.count)), backgroundColor: alpha(COLORS.tests, 0.75), borderColor: COLORS.tests, borderWidth: 1 }],
    },
    options: { ...axes({ horizontal: true, legend: false }), scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { grid: { display: false }, ticks: { autoSkip: false } } } },
  }, `Tests by label: ${labels.filter((/** @type {any} */ l) => l.count > 0).map((/** @type {any} */ l) => `${l.label} ${l.count}`).join(', ') || 'none'}.`);
}

/** @param {any} out @param {Filters} f @param {boolean} weekly */
function renderStates(out, f, weekly) {
  const states = out?.states ?? [];
  const series = out?.series ?? [];
  const periods = weekly ? series.map((/** @type {any} */ s) => s.period_start) : daysBetween(f.from, f.to);
  const byPeriod = new Map(series.map((/** @type {any} */ s) => [String(s.period_start).slice(0, 10), s]));
  const datasets = states.map((/** @type {string} */ st, /** @type {number} */ i) => ({
    label: fmtState(st),
    data: periods.map((/** @type {string} */ p) => {
      const b = byPeriod.get(String(p).slice(0, 10))?.buckets?.find((/** @type {any} */ x) => x.state === st);
      return b ? Number(b.count) : 0;
    }),
    backgroundColor: alpha(stateColor(st, i), 0.8),
    borderColor: stateColor(st, i),
    borderWidth: 1,
  }));
  const totals = (out?.totals ?? []).map((/** @type {any} */ t) => `${t.state} ${t.count}`).join(', ');
  draw('chart-states', {
    type: 'bar',
    data: { labels: periods.map((/** @type {string} */ p) => (weekly ? `wk ${shortDay(String(p).slice(0, 10))}` : shortDay(p))), datasets },
    options: { ...axes({ stacked: true, yTitle: weekly ? 'tests per week' : 'tests per day' }) },
  }, `Tests by state: ${totals || 'none'}.`);
}

/** @param {any} out */
function renderTopCustomers(out) {
  const rows = out?.customers ?? [];
  const names = rows.map((/** @type {any} */ c) => c.name ?? `Customer ${c.id}`);
  draw('chart-top-customers', {
    type: 'bar',
    data: {
      labels: names.map((/** @type {string} */ n) => (n.length > 22 ? `${n.slice(0, 21)}…` : n)),
      datasets: [
        { label: 'Tests', data: rows.map((/** @type {any} */ c) => Number(c.tests)), backgroundColor: alpha(COLORS.tests, 0.75), borderColor: COLORS.tests, borderWidth: 1 },
        { label: 'Tests reported', data: rows.map((/** @type {any} */ c) => Number(c.tests_reported)), backgroundColor: alpha(COLORS.reported, 0.75), borderColor: COLORS.reported, borderWidth: 1 },
      ],
    },
    options: {
      ...axes({ horizontal: true }),
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { grid: { display: false }, ticks: { autoSkip: false } } },
      onClick: (/** @type {any} */ _e, /** @type {any[]} */ elements) => {
        const i = elements?.[0]?.index;
        if (i != null && rows[i]) void openDetail('customers', rows[i].id);
      },
      onHover: (/** @type {any} */ e, /** @type {any[]} */ elements) => {
        const t = /** @type {HTMLElement|undefined} */ (e?.native?.target);
        if (t) t.classList.toggle('clickable', Boolean(elements?.length));
      },
    },
  }, `Top customers by tests: ${rows.map((/** @type {any} */ c) => `${c.name ?? c.id} ${c.tests}`).join(', ') || 'none'}.`);
  const tbody = /** @type {HTMLElement} */ (document.querySelector('#top-customers-table tbody'));
  clear(tbody);
  for (const c of rows) {
    tbody.append(el('tr', {}, el('td', {}, entityLink('customers', c.id, c.name ?? `Customer ${c.id}`)), el('td', { class: 'num' }, fmtInt(c.tests)), el('td', { class: 'num' }, fmtInt(c.tests_reported))));
  }
  if (!rows.length) tbody.append(emptyRow(3, 'No tests in the range.'));
}

/** @param {number} cols @param {string} text */
const emptyRow = (cols, text) => el('tr', {}, el('td', { colspan: String(cols), class: 'muted' }, text));

/** @param {any} out */
function renderNewCustomers(out) {
  const rows = out?.customers ?? [];
  const tbody = /** @type {HTMLElement} */ (document.querySelector('#new-customers-table tbody'));
  clear(tbody);
  for (const c of rows) {
    tbody.append(el('tr', {}, el('td', {}, entityLink('customers', c.id, c.name ?? `Customer ${c.id}`)), el('td', {}, el('time', { datetime: c.created_at }, fmtDate(c.created_at)))));
  }
  if (!rows.length) tbody.append(emptyRow(2, 'No new customers in the range.'));
}

/** @param {string|null|undefined} s */
const stateBadge = (s) => el('span', { class: 'badge', 'data-state': s ?? '' }, fmtState(s));

/** @param {any} out */
function renderSlowest(out) {
  const rows = out?.items ?? out?.orders ?? [];
  const tbody = /** @type {HTMLElement} */ (document.querySelector('#slowest-table tbody'));
  clear(tbody);
  for (const o of rows) {
    const open = o.completion_hours == null;
    tbody.append(el('tr', {},
      el('td', {}, entityLink('orders', o.order_id, o.order_reference ?? `Order ${o.order_id}`)),
      el('td', {}, o.customer_name ?? '–'),
      el('td', {}, stateBadge(o.state)),
      el('td', {}, el('time', { datetime: o.date_created }, fmtDate(o.date_created))),
      el('td', { class: 'num' }, open ? `${fmtHours(o.age_hours)} (open)` : fmtHours(o.completion_hours))));
  }
  if (!rows.length) tbody.append(emptyRow(5, 'No orders created in the range.'));
}

/** @param {any} out @param {Filters} f @param {number} minDays */
function renderOverdue(out, f, minDays) {
  let rows = out?.top_orders ?? [];
  if (f.customer) rows = rows.filter((/** @type {any} */ o) => String(o.customer_id) === f.customer);
  if (f.orderState) rows = rows.filter((/** @type {any} */ o) => o.state === f.orderState);
  rows = rows.slice(0, 10);
  const k = out?.kpis ?? {};
  const filtered = f.customer || f.orderState ? ' (list filtered by customer / order state)' : '';
  $('overdue-sub').textContent = `${fmtInt(k.total_overdue)} active orders open ${minDays} day${minDays === 1 ? '' : 's'} or more on ${f.to}; the oldest ${rows.length} shown${filtered}`;
  const tbody = /** @type {HTMLElement} */ (document.querySelector('#overdue-table tbody'));
  clear(tbody);
  for (const o of rows) {
    tbody.append(el('tr', {},
      el('td', {}, entityLink('orders', o.order_id, o.custom_formatted_id ?? `Order ${o.order_id}`)),
      el('td', {}, o.customer_id != null ? entityLink('customers', o.customer_id, o.customer_name ?? `Customer ${o.customer_id}`) : (o.customer_name ?? '–')),
      el('td', {}, stateBadge(o.state)),
      el('td', {}, el('time', { datetime: o.date_created }, fmtDate(o.date_created))),
      el('td', { class: 'num' }, fmtHours(o.open_hours)),
      el('td', { class: 'num' }, o.total_samples != null ? `${fmtInt(o.incomplete_sample_count)} / ${fmtInt(o.total_samples)}` : '–')));
  }
  if (!rows.length) tbody.append(emptyRow(6, 'No overdue orders.'));
}

// ------------------------------------------------------------------------------------------------ lookup

$('lookup-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const kind = /** @type {HTMLSelectElement} */ ($('lookup-kind')).value;
  const id = /** @type {HTMLInputElement} */ ($('lookup-id')).value.trim();
  if (!/^\d+$/.test(id)) {
    message($('lookup-message'), 'Enter a numeric QBench id.');
    return;
  }
  message($('lookup-message'), null);
  void openDetail(kind, id);
});

// ------------------------------------------------------------------------------------------------ boot

function boot() {
  initDetail({ params: () => (state.filters?.sla ? { sla_hours: state.filters.sla } : {}) });
  // After a sync the transform jobs may still be running: look for new data now and a little later (the
  // regular data poll catches anything slower).
  initSync({ onSynced: () => { for (const ms of [0, 2000, 6000]) setTimeout(() => void checkDataVersion(), ms); } });
  if (!chartsAvailable()) message(banner, 'The chart library did not load: charts are unavailable.');
  if (!getToken()) {
    showLogin();
    return;
  }
  enterDashboard().catch((err) => message(banner, `Could not start: ${/** @type {Error} */ (err).message}`));
}

boot();
