/**
 * The web dashboard in a real browser: headless Debian Chromium (/usr/bin/chromium, installed by
 * scripts/ensure-chromium.sh) driven by playwright-core, against the real API on a test database filled from the
 * simulator by a full sync + transforms, with a worker executing the syncs the Update button queues.
 *
 * Screenshots go to test-artifacts/ (git-ignored): dashboard.png, filtered-30d.png, mobile.png, sync-progress.png,
 * sync-done.png, sync-second-browser.png, sync-failed.png, detail-test.png, detail-order.png, login-401.png.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { expect } from 'chai';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createLogger, loadConfig, type Config } from '../../core/index.js';
import { makeClient, runSync, MemoryRateBudget, type EntityName } from '../../ingest/index.js';
import { runTransforms } from '../../transform/index.js';
import { createApp, createApiToken, revokeToken } from '../../api/index.js';
import { startWorker, type Worker } from '../../jobs/index.js';
import type { Simulator } from '../../sim/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator, TEST_CLIENT_ID, TEST_CLIENT_SECRET } from '../helpers/sim.js';

const CHROMIUM = process.env.QBSYNC_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.resolve('test-artifacts');
const ALL: EntityName[] = ['customers', 'orders', 'samples', 'batches', 'tests', 'assays', 'reports'];
const CHARTS = ['chart-activity', 'chart-tat-daily', 'chart-tat-dist', 'chart-labels', 'chart-states', 'chart-top-customers'];
const FAST = { backoffBaseMs: 5, backoffCapMs: 50, requestTimeoutMs: 5000, rateLimitMaxWaitMs: 5000 };

function config(): Config {
  return loadConfig({ QBENCH_CLIENT_ID: TEST_CLIENT_ID, QBENCH_CLIENT_SECRET: TEST_CLIENT_SECRET, QBENCH_BASE_URL: 'http://127.0.0.1:1' });
}

/** Console errors and uncaught exceptions of every page; 401 resource errors are expected only while `allow401`. */
class ConsoleWatch {
  errors: string[] = [];
  allow401 = false;
  attach(page: Page, name: string): Page {
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      if (this.allow401 && /status of 401/.test(m.text())) return;
      this.errors.push(`${name}: ${m.text()}`);
    });
    page.on('pageerror', (e) => this.errors.push(`${name}: uncaught ${e.message}`));
    return page;
  }
}

const num = (s: string | null) => Number(String(s ?? '').replace(/[^\d.-]/g, ''));

async function loads(page: Page): Promise<number> {
  return page.evaluate(() => Number(document.body.dataset.loads ?? 0));
}

/** Waits until the dashboard finished more than `after` full loads. */
async function waitLoaded(page: Page, after: number): Promise<void> {
  await page.waitForFunction((n) => Number(document.body.dataset.loads ?? 0) > n && document.body.dataset.loading === 'false', after, { timeout: 20_000 });
}

async function kpi(page: Page, name: string): Promise<number> {
  return num(await page.textContent(`[data-kpi="${name}"] .kpi-value`));
}

interface ChartInfo {
  id: string;
  type: string | null;
  datasets: number;
  values: number;
  nonZero: number;
}

async function chartInfo(page: Page): Promise<ChartInfo[]> {
  return page.evaluate((ids) => {
    const C = (window as unknown as { Chart: { getChart(c: HTMLCanvasElement): any } }).Chart;
    return ids.map((id) => {
      const chart = C?.getChart(document.getElementById(id) as HTMLCanvasElement);
      const sets: Array<{ data: Array<number | null> }> = chart?.data?.datasets ?? [];
      const values = sets.flatMap((d) => d.data).filter((v) => v != null);
      return { id, type: chart?.config?.type ?? null, datasets: sets.length, values: values.length, nonZero: values.filter((v) => Number(v) !== 0).length };
    });
  }, CHARTS);
}

describe('dashboard in a browser', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let sim: Simulator;
  let worker: Worker | undefined;
  let server: http.Server | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let base = '';
  let adminToken = '';
  const watch = new ConsoleWatch();

  before(async function () {
    this.timeout(180_000);
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not installed at ${CHROMIUM}: run scripts/ensure-chromium.sh (apt-get install chromium) or set QBSYNC_CHROMIUM`);
    }
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const cfg = config();
    const logger = createLogger({ level: 'silent', console: false });
    db = await createTestDatabase();
    sim = await testSimulator({ size: 'small' });
    const budget = new MemoryRateBudget({ limit: 1e6, windowMs: 1000 });
    const first = await runSync(
      { db, logger, makeClient: (onEvent) => makeClient(cfg, { baseUrl: sim.url, logger, onEvent, rateBudget: budget, overrides: FAST }) },
      { mode: 'full', entities: ALL, requestedBy: 'test' },
    );
    expect(first.status).to.equal('succeeded');
    await runTransforms(db, { timezone: cfg.timezone, logger });

    // A worker runs what POST /api/v1/sync queues (the sync, then the transform jobs its landing queued).
    worker = await startWorker({ db, config: cfg, logger, baseUrl: sim.url, rateBudget: budget, clientOverrides: FAST, schedule: false, stopGraceMs: 2000 });
    const app = createApp({ db, config: cfg, logger, boss: worker.boss });
    server = http.createServer(app);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    adminToken = (await createApiToken(db.pool, { name: 'browser-test', admin: true })).token;

    try {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
      });
    } catch (err) {
      throw new Error(`Chromium at ${CHROMIUM} did not start: ${(err as Error).message}`);
    }
    context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US', timezoneId: 'UTC' });
    page = watch.attach(await context.newPage(), 'main');
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server?.closeAllConnections();
    await worker?.stop().catch(() => undefined);
    await sim?.close();
    await db?.drop();
  });

  it('asks for a token, refuses a wrong one, then draws every chart with data for the last 7 days of data', async () => {
    await page.goto(base + '/');
    await page.waitForSelector('#login:not([hidden])');
    expect(await page.isVisible('#dashboard')).to.equal(false);

    watch.allow401 = true;
    await page.fill('#token-input', 'qbs_0123456789abcdef_wrongwrongwrongwrong');
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#login-message:not([hidden])');
    expect(await page.textContent('#login-message')).to.match(/refused/);
    watch.allow401 = false;

    await page.fill('#token-input', adminToken);
    await page.click('#login-form button[type=submit]');
    await waitLoaded(page, 0);
    expect(await page.evaluate(() => localStorage.getItem('qbsync.token'))).to.equal(adminToken);

    // The simulator's clock (2026-11-20 12:00 UTC) is before today: the default range is the 7 days ending then.
    const simDay = sim.now().toISOString().slice(0, 10);
    const today = new Date().toISOString().slice(0, 10);
    const expectedTo = simDay < today ? simDay : today;
    expect(await page.inputValue('#f-to')).to.equal(expectedTo);
    const from = await page.inputValue('#f-from');
    expect((Date.parse(expectedTo) - Date.parse(from)) / 86_400_000).to.equal(6);
    const u = new URL(page.url());
    expect(u.searchParams.get('from')).to.equal(from);
    expect(u.searchParams.get('to')).to.equal(expectedTo);
    if (simDay < today) expect(await page.textContent('#range-note')).to.match(/before today/);

    for (const k of ['samples', 'tests', 'reports', 'within']) expect(await kpi(page, k), k).to.be.greaterThan(0);
    expect(await page.textContent('[data-kpi="tat"] .kpi-value')).to.match(/\d+(\.\d)? h/);

    // Let the animations settle, then every chart has datasets with data.
    await page.waitForTimeout(400);
    const charts = await chartInfo(page);
    for (const c of charts) {
      expect(c.type, c.id).to.be.a('string');
      expect(c.datasets, `${c.id} datasets`).to.be.greaterThan(0);
      expect(c.nonZero, `${c.id} non-zero values`).to.be.greaterThan(0);
    }
    // Activity compares with the previous period; TAT per day has the moving average and the SLA line.
    expect(charts.find((c) => c.id === 'chart-activity')!.datasets).to.equal(6);
    expect(charts.find((c) => c.id === 'chart-tat-daily')!.datasets).to.equal(3);
    const tatLabels = await page.evaluate(() => (window as any).Chart.getChart(document.getElementById('chart-tat-daily')).data.datasets.map((d: any) => d.label));
    expect(tatLabels.join(' | ')).to.match(/Moving average/).and.match(/SLA \(48 h\)/);

    for (const t of ['#top-customers-table', '#slowest-table', '#overdue-table']) {
      expect(await page.locator(`${t} tbody [data-entity-id]`).count(), t).to.be.greaterThan(0);
    }
    expect(await page.textContent('#last-sync-time')).to.not.equal('never');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  });

  it('keeps the filters in the URL, follows the date range and restores it on reload', async () => {
    const samples7 = await kpi(page, 'samples');
    const tests7 = await kpi(page, 'tests');
    let n = await loads(page);
    await page.click('[data-days="30"]');
    await waitLoaded(page, n);
    const samples30 = await kpi(page, 'samples');
    expect(samples30).to.be.greaterThan(samples7);
    expect(await kpi(page, 'tests')).to.be.greaterThan(tests7);
    const from30 = await page.inputValue('#f-from');
    expect(new URL(page.url()).searchParams.get('from')).to.equal(from30);

    // A customer and an SLA: fewer samples, the SLA reaches the TAT chart and the URL.
    const customer = await page.evaluate(() => {
      const b = document.querySelector('#top-customers-table tbody [data-entity-id]') as HTMLElement;
      return b.dataset.entityId!;
    });
    n = await loads(page);
    await page.selectOption('#f-customer', customer);
    await waitLoaded(page, n);
    const samplesCustomer = await kpi(page, 'samples');
    expect(samplesCustomer).to.be.greaterThan(0).and.lessThan(samples30);
    n = await loads(page);
    await page.fill('#f-sla', '72');
    await page.press('#f-sla', 'Enter');
    await waitLoaded(page, n);
    const q = new URL(page.url()).searchParams;
    expect(q.get('customer')).to.equal(customer);
    expect(q.get('sla')).to.equal('72');
    const slaLabel = await page.evaluate(() => (window as any).Chart.getChart(document.getElementById('chart-tat-daily')).data.datasets[2].label);
    expect(slaLabel).to.equal('SLA (72 h)');
    await page.screenshot({ path: path.join(ARTIFACTS, 'filtered-30d.png'), fullPage: true });

    // Reload: the same view from the URL alone.
    await page.reload();
    await waitLoaded(page, 0);
    expect(await page.inputValue('#f-from')).to.equal(from30);
    expect(await page.inputValue('#f-customer')).to.equal(customer);
    expect(await page.inputValue('#f-sla')).to.equal('72');
    expect(await kpi(page, 'samples')).to.equal(samplesCustomer);

    // Back to the defaults; a phone-sized viewport still lays out (screenshot).
    n = await loads(page);
    await page.click('#f-reset');
    await waitLoaded(page, n);
    expect(await kpi(page, 'samples')).to.equal(samples7);
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await page.waitForTimeout(300);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, 'no horizontal scrolling on a phone').to.be.at.most(1);
      await page.screenshot({ path: path.join(ARTIFACTS, 'mobile.png'), fullPage: true });
    } finally {
      await page.setViewportSize({ width: 1440, height: 900 });
    }
  });

  it('Update starts a sync, shows its progress (also in a second browser, whose button is disabled), a newer last-sync time and the new numbers', async () => {
    const before = await page.getAttribute('#last-sync-time', 'datetime');
    expect(before).to.be.a('string');
    const samplesBefore = await kpi(page, 'samples');

    const second = watch.attach(await context!.newPage(), 'second');
    await second.goto(base + '/');
    await waitLoaded(second, 0);
    expect(await second.isEnabled('#update-btn')).to.equal(true);

    // New data in QBench, and slow answers so the run lasts a few seconds.
    sim.advance(24);
    sim.setFaults({ latencyMs: 500 });
    try {
      await page.click('#update-btn');
      expect(await page.isDisabled('#update-btn')).to.equal(true);
      await page.waitForFunction(() => {
        const p = document.getElementById('sync-panel')!;
        return !p.hidden && p.dataset.status === 'running' && document.querySelectorAll('#sync-progress tbody tr[data-entity]').length > 0;
      }, undefined, { timeout: 15_000 });
      const progressText = await page.textContent('#sync-panel-status');
      expect(progressText).to.match(/Syncing/);
      await page.screenshot({ path: path.join(ARTIFACTS, 'sync-progress.png') });

      // The other browser sees the running sync through its own polling and disables its button.
      await second.waitForFunction(() => (document.getElementById('update-btn') as HTMLButtonElement).disabled, undefined, { timeout: 10_000 });
      expect(await second.isVisible('#sync-panel')).to.equal(true);
      await second.screenshot({ path: path.join(ARTIFACTS, 'sync-second-browser.png') });

      await page.waitForFunction(() => document.getElementById('sync-panel')!.dataset.status === 'succeeded', undefined, { timeout: 30_000 });
    } finally {
      sim.setFaults({});
    }
    const rows = await page.$$eval('#sync-progress tbody tr[data-entity]', (trs) =>
      trs.map((tr) => ({ entity: (tr as HTMLElement).dataset.entity, status: (tr as HTMLElement).dataset.status, cells: [...tr.children].map((c) => c.textContent) })));
    expect(rows.map((r) => r.entity)).to.include.members(['customers', 'orders', 'samples', 'tests']);
    expect(rows.every((r) => r.status === 'succeeded')).to.equal(true);
    expect(rows.some((r) => num(r.cells[3]) > 0), 'records landed').to.equal(true);
    await page.waitForFunction((b) => {
      const t = document.getElementById('last-sync-time') as HTMLTimeElement;
      return Boolean(t.dateTime) && t.dateTime > b;
    }, before!, { timeout: 10_000 });
    expect(await page.isEnabled('#update-btn')).to.equal(true);
    expect(await page.textContent('#sync-panel-status')).to.match(/Sync succeeded/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'sync-done.png') });

    // The transform jobs the sync queued land the new records; the page notices and reloads its numbers.
    await page.waitForFunction((n) => Number(document.querySelector('[data-kpi="samples"] .kpi-value')!.textContent!.replace(/[^\d]/g, '')) > n,
      samplesBefore, { timeout: 20_000 });

    const after = (await page.getAttribute('#last-sync-time', 'datetime'))!;
    await second.waitForFunction((a) => (document.getElementById('last-sync-time') as HTMLTimeElement).dateTime === a
      && !(document.getElementById('update-btn') as HTMLButtonElement).disabled, after, { timeout: 10_000 });
    await second.close();
  });

  it('a failed sync shows its error and leaves the last successful sync as it was', async () => {
    const before = await page.getAttribute('#last-sync-time', 'datetime');
    sim.setFaults({ errorRate: 1 });
    try {
      await page.click('#update-btn');
      await page.waitForFunction(() => document.getElementById('sync-panel')!.dataset.status === 'failed', undefined, { timeout: 30_000 });
    } finally {
      sim.setFaults({});
    }
    expect(await page.isVisible('#sync-panel-error')).to.equal(true);
    expect(await page.textContent('#sync-panel-error')).to.match(/^Error: .*(50\d|server|QBench)/i);
    expect(await page.textContent('#sync-panel-status')).to.match(/Sync failed/);
    expect(await page.getAttribute('#last-sync-time', 'datetime')).to.equal(before);
    expect(await page.isEnabled('#update-btn')).to.equal(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'sync-failed.png') });
    await page.click('#sync-panel-close');
  });

  it("opens a test's detail with its raw history (search box), and an order from the slowest-orders table", async () => {
    // A test the incremental sync landed again with changes: its history has more than one version.
    const { rows: [t] } = await db.pool.query(
      `SELECT qbsync.rr_id(item) AS id, count(DISTINCT md5(item::text)) AS versions
       FROM raw.fetches f JOIN raw.page_bodies b ON b.sha256 = f.body_sha256,
       LATERAL jsonb_array_elements(qbsync.rr_records(f.kind, b.body)) AS item
       WHERE f.entity = 'tests' AND jsonb_typeof(item) = 'object'
       GROUP BY 1 HAVING count(DISTINCT md5(item::text)) > 1 ORDER BY 2 DESC, 1 LIMIT 1`,
    );
    expect(t, 'a test with two versions in raw').to.exist;
    const testId = String(t.id);

    await page.selectOption('#lookup-kind', 'tests');
    await page.fill('#lookup-id', testId);
    await page.click('#lookup-form button[type=submit]');
    await page.waitForFunction(() => (document.getElementById('detail') as HTMLDialogElement).dataset.state === 'loaded', undefined, { timeout: 10_000 });
    expect(await page.isVisible('#detail')).to.equal(true);
    expect(await page.textContent('#detail-title')).to.match(new RegExp(`^Test ${testId}`));
    expect(await page.locator('#detail-body .record dt').count()).to.be.greaterThan(5);
    const events = page.locator('#detail-body .history-list > li.event');
    expect(await events.count()).to.be.greaterThan(1);
    expect(await events.first().locator('time').getAttribute('datetime')).to.match(/^\d{4}-\d{2}-\d{2}T/);
    expect(await events.first().textContent()).to.match(/run [0-9a-f]{8}/);
    expect(await events.first().textContent()).to.match(/First seen/);
    expect(await page.locator('#detail-body .changes li').count(), 'changed fields listed').to.be.greaterThan(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'detail-test.png') });

    // A link inside the panel opens the test's sample; Back returns to the test.
    await page.click('#detail-body .record [data-entity-kind="samples"]');
    await page.waitForFunction(() => /^Sample \d+/.test(document.getElementById('detail-title')!.textContent ?? '')
      && (document.getElementById('detail') as HTMLDialogElement).dataset.state === 'loaded', undefined, { timeout: 10_000 });
    await page.click('#detail-back');
    await page.waitForFunction((id) => (document.getElementById('detail-title')!.textContent ?? '').startsWith(`Test ${id}`)
      && (document.getElementById('detail') as HTMLDialogElement).dataset.state === 'loaded', testId, { timeout: 10_000 });
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !(document.getElementById('detail') as HTMLDialogElement).open);

    const orderBtn = page.locator('#slowest-table tbody [data-entity-kind="orders"]').first();
    const orderId = await orderBtn.getAttribute('data-entity-id');
    await orderBtn.click();
    await page.waitForFunction(() => (document.getElementById('detail') as HTMLDialogElement).dataset.state === 'loaded', undefined, { timeout: 10_000 });
    expect(await page.textContent('#detail-title')).to.match(new RegExp(`^Order ${orderId}`));
    expect(await page.locator('#detail-body .history-list > li.event').count()).to.be.greaterThan(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'detail-order.png') });
    await page.click('#detail-close');
  });

  it('a refused token (revoked) sends the page back to the token form with a message', async () => {
    watch.allow401 = true;
    await revokeToken(db.pool, adminToken);
    await page.click('[data-days="7"]');
    await page.waitForSelector('#login:not([hidden])', { timeout: 10_000 });
    expect(await page.textContent('#login-message')).to.match(/token was refused/);
    expect(await page.evaluate(() => localStorage.getItem('qbsync.token'))).to.equal(null);
    await page.screenshot({ path: path.join(ARTIFACTS, 'login-401.png') });
    watch.allow401 = false;
  });

  it('had no console errors', () => {
    expect(watch.errors).to.deep.equal([]);
  });
});
