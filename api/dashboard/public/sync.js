// The Update button and the header's "last successful sync".
//
// - Update: POST /api/v1/sync {mode: incremental} (admin token) → 202 {run_id}; the run is then polled every
//   second (GET /api/v1/sync/runs/{id}) and its per-entity progress (pages, records, status) shown until it ends.
// - Every open page also polls GET /api/v1/sync/runs?limit=5 (every few seconds): a sync queued or running
//   anywhere (another browser, the CLI, the schedule) disables the button here too and is followed the same way.
// - "Last successful sync" = finished_at of the newest succeeded full or incremental run.

import { api, ApiError } from './api.js';
import { $, clear, el, message } from './dom.js';
import { fmtAgo, fmtDateTime, fmtDuration, fmtInt } from './format.js';

const SYNC_MODES = new Set(['full', 'incremental']);
const ACTIVE = new Set(['queued', 'running']);
const RUN_POLL_MS = 1000;
const IDLE_POLL_MS = 2000;

const updateBtn = /** @type {HTMLButtonElement} */ ($('update-btn'));
const panel = $('sync-panel');
const panelStatus = $('sync-panel-status');
const panelError = $('sync-panel-error');
const progressBody = /** @type {HTMLTableSectionElement} */ ($('sync-progress').querySelector('tbody'));
const lastTime = /** @type {HTMLTimeElement} */ ($('last-sync-time'));
const lastAgo = $('last-sync-ago');

/** @type {{ onSynced: (run: any) => void }} */
let hooks = { onSynced: () => undefined };
/** The run this page is following (started here or seen in the list). @type {string|null} */
let following = null;
/** @type {ReturnType<typeof setTimeout>|undefined} */
let idleTimer;
/** @type {ReturnType<typeof setTimeout>|undefined} */
let runTimer;
let started = false;
/** @type {string|null} */
let lastSuccessAt = null;
let starting = false;

/** @param {{ onSynced: (run: any) => void }} h */
export function initSync(h) {
  hooks = h;
  updateBtn.addEventListener('click', () => void startSync());
  $('sync-panel-close').addEventListener('click', () => {
    panel.hidden = true;
  });
  setInterval(() => {
    if (lastSuccessAt) lastAgo.textContent = `(${fmtAgo(lastSuccessAt)})`;
  }, 30_000);
}

/** Starts the background polling (after sign-in). */
export function startSyncWatch() {
  if (started) return;
  started = true;
  void refreshLastSuccess();
  void watch();
}

export function stopSyncWatch() {
  started = false;
  following = null;
  clearTimeout(idleTimer);
  clearTimeout(runTimer);
  panel.hidden = true;
}

/** @param {boolean} busy @param {string} [why] */
function setBusy(busy, why) {
  updateBtn.disabled = busy;
  updateBtn.setAttribute('aria-busy', busy ? 'true' : 'false');
  updateBtn.textContent = busy ? 'Sync running…' : 'Update';
  updateBtn.title = busy ? (why ?? 'A sync is running') : 'Fetch what changed in QBench since the last sync';
}

async function startSync() {
  if (updateBtn.disabled || starting) return;
  starting = true;
  setBusy(true, 'Starting a sync');
  message(panelError, null);
  try {
    const out = await api('/api/v1/sync', { method: 'POST', body: { mode: 'incremental' } });
    panel.hidden = false;
    panelStatus.textContent = 'Sync queued…';
    clear(progressBody);
    follow(out.run_id);
  } catch (err) {
    const e = /** @type {ApiError} */ (err);
    panel.hidden = false;
    clear(progressBody);
    panelStatus.textContent = 'The sync could not be started.';
    message(panelError, e.status === 403
      ? 'This token can read the dashboard but cannot start a sync: an admin token is needed.'
      : `Could not start a sync: ${e.message}`);
    setBusy(false);
  } finally {
    starting = false;
  }
}

/** @param {string} runId */
function follow(runId) {
  if (following === runId) return;
  following = runId;
  clearTimeout(runTimer);
  void pollRun(runId);
}

/** @param {string} runId */
async function pollRun(runId) {
  if (following !== runId || !started) return;
  let run;
  try {
    run = await api(`/api/v1/sync/runs/${encodeURIComponent(runId)}`);
  } catch (err) {
    if (/** @type {ApiError} */ (err).status === 401) return;
    panelStatus.textContent = `Lost track of the sync (${/** @type {Error} */ (err).message}); retrying…`;
    runTimer = setTimeout(() => void pollRun(runId), RUN_POLL_MS * 2);
    return;
  }
  if (following !== runId) return;
  renderRun(run);
  if (ACTIVE.has(run.status)) {
    setBusy(true, `Sync ${run.status} (run ${runId.slice(0, 8)})`);
    runTimer = setTimeout(() => void pollRun(runId), RUN_POLL_MS);
    return;
  }
  following = null;
  setBusy(false);
  await refreshLastSuccess();
  hooks.onSynced(run);
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => void watch(), IDLE_POLL_MS);
}

/** @param {any} run */
function renderRun(run) {
  panel.hidden = false;
  panel.dataset.runId = run.run_id;
  panel.dataset.status = run.status;
  const entities = Array.isArray(run.entities_progress) ? run.entities_progress : [];
  const pages = entities.reduce((a, e) => a + (Number(e.pages) || 0), 0);
  const records = entities.reduce((a, e) => a + (Number(e.records) || 0), 0);
  const mode = run.mode ?? 'sync';
  const who = run.requested_by ? ` requested by ${run.requested_by}` : '';
  if (run.status === 'queued') panelStatus.textContent = `A ${mode} sync is queued${who}; waiting for a worker…`;
  else if (run.status === 'running') {
    const current = entities.find((/** @type {any} */ e) => e.status === 'running');
    panelStatus.textContent = `Syncing${current ? ` ${current.entity}` : ''}… ${fmtInt(pages)} pages, ${fmtInt(records)} records so far (${mode}${who})`;
  } else if (run.status === 'succeeded') {
    panelStatus.textContent = `Sync succeeded in ${fmtDuration(run.duration_ms)}: ${fmtInt(run.pages ?? pages)} pages, ${fmtInt(run.records ?? records)} records.`;
  } else if (run.status === 'partial') {
    panelStatus.textContent = `Sync finished with skipped pages in ${fmtDuration(run.duration_ms)}: ${fmtInt(run.records ?? records)} records.`;
  } else {
    panelStatus.textContent = `Sync ${run.status}${run.duration_ms != null ? ` after ${fmtDuration(run.duration_ms)}` : ''}.`;
  }
  const failedEntity = entities.find((/** @type {any} */ e) => e.error);
  message(panelError, run.status === 'failed' || run.status === 'cancelled' || run.status === 'partial'
    ? `Error: ${run.error ?? failedEntity?.error ?? (run.skipped_pages?.length ? `${run.skipped_pages.length} page(s) skipped` : 'the run did not succeed')}`
    : null);

  clear(progressBody);
  for (const e of entities) {
    const pagesText = e.total_pages ? `${fmtInt(e.pages)} / ${fmtInt(e.total_pages)}` : fmtInt(e.pages);
    progressBody.append(el('tr', { 'data-entity': e.entity, 'data-status': e.status },
      el('th', { scope: 'row' }, e.entity),
      el('td', {}, el('span', { class: 'badge', 'data-state': e.status }, e.status)),
      el('td', { class: 'num' }, pagesText),
      el('td', { class: 'num' }, fmtInt(e.records)),
      el('td', { class: 'small' }, e.error ?? '')));
  }
  if (!entities.length) {
    const names = Array.isArray(run.entities) ? run.entities.join(', ') : '';
    progressBody.append(el('tr', {}, el('td', { colspan: '5', class: 'muted' }, names ? `Waiting to start: ${names}` : 'Waiting to start…')));
  }
}

/** The idle poll: any active sync (from anywhere) disables the button and is followed. */
async function watch() {
  clearTimeout(idleTimer);
  if (!started) return;
  try {
    if (!following) {
      const { runs } = await api('/api/v1/sync/runs', { params: { limit: 5 } });
      const active = (runs ?? []).filter((/** @type {any} */ r) => SYNC_MODES.has(r.mode) && ACTIVE.has(r.status));
      // The oldest active one runs first (runs are newest first).
      const next = active[active.length - 1];
      if (next) {
        panel.hidden = false;
        follow(next.run_id);
      } else if (!starting) {
        setBusy(false);
        const newest = (runs ?? []).find((/** @type {any} */ r) => SYNC_MODES.has(r.mode) && r.status === 'succeeded');
        if (newest?.finished_at && (!lastSuccessAt || newest.finished_at > lastSuccessAt)) {
          await refreshLastSuccess();
          hooks.onSynced(newest);
        }
      }
    }
  } catch {
    /* the next tick tries again; a 401 already went back to the token form */
  }
  if (started) idleTimer = setTimeout(() => void watch(), document.hidden ? IDLE_POLL_MS * 4 : IDLE_POLL_MS);
}

export async function refreshLastSuccess() {
  try {
    const { runs } = await api('/api/v1/sync/runs', { params: { status: 'succeeded', limit: 20 } });
    const last = (runs ?? []).find((/** @type {any} */ r) => SYNC_MODES.has(r.mode) && r.finished_at);
    setLastSuccess(last?.finished_at ?? null);
  } catch {
    /* keep what is shown */
  }
}

/** @param {string|null} iso */
function setLastSuccess(iso) {
  lastSuccessAt = iso;
  if (!iso) {
    lastTime.textContent = 'never';
    lastTime.removeAttribute('datetime');
    lastTime.dataset.empty = 'true';
    lastAgo.textContent = '';
    return;
  }
  lastTime.dateTime = iso;
  lastTime.dataset.empty = 'false';
  lastTime.textContent = fmtDateTime(iso);
  lastTime.title = iso;
  lastAgo.textContent = `(${fmtAgo(iso)})`;
}
