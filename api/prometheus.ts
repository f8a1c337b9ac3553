/**
 * GET /metrics (Prometheus text, prom-client). Per app instance registry (so tests can build several apps):
 * - qbsync_http_request_duration_seconds{method,route,status}: latency histogram per route template;
 * - from run history (qbsync.sync_runs): runs by mode/status, QBench requests, retries and 429s, pages,
 *   records; last successful sync time per entity (sync_run_entities);
 * - transforms: watermark fetch id per target and how many landed fetches wait for it;
 * - queue depth per pg-boss queue (getQueueSize) when the app has a boss;
 * - process metrics (prom-client defaults).
 * Counters read from the database are exposed as counters whose value is the database total at scrape time.
 */
import client from 'prom-client';
import { QUEUES, type PgBoss } from '../core/boss.js';
import type { Database, Logger } from '../core/index.js';

export interface ApiMetrics {
  registry: client.Registry;
  httpDuration: client.Histogram<'method' | 'route' | 'status'>;
}

export function createMetrics(db: Database, logger: Logger, boss?: PgBoss): ApiMetrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'qbsync_api_' });

  const httpDuration = new client.Histogram({
    name: 'qbsync_http_request_duration_seconds',
    help: 'API request latency by route template',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  // One snapshot per scrape, shared by the collectors below (each collect() awaits the same promise).
  let snapshot: Promise<Snapshot> | undefined;
  let snapshotAt = 0;
  const snap = (): Promise<Snapshot> => {
    if (!snapshot || Date.now() - snapshotAt > 1000) {
      snapshotAt = Date.now();
      snapshot = readSnapshot(db, boss).catch((err) => {
        logger.warn('metrics snapshot failed', { error: (err as Error).message });
        return EMPTY;
      });
    }
    return snapshot;
  };

  const runCounter = (name: string, help: string, field: keyof Snapshot['totals']) =>
    new client.Counter({
      name,
      help,
      registers: [registry],
      async collect() {
        const s = await snap();
        this.reset();
        this.inc(s.totals[field]);
      },
    });
  runCounter('qbsync_qbench_requests_total', 'Requests made to QBench by all runs (run history)', 'requests');
  runCounter('qbsync_qbench_retries_total', 'Retried QBench requests (run history)', 'retries');
  runCounter('qbsync_qbench_rate_limited_total', 'QBench 429 answers (run history)', 'rate_limited');
  runCounter('qbsync_sync_pages_total', 'Pages landed by all runs', 'pages');
  runCounter('qbsync_sync_records_total', 'Records landed by all runs', 'records');

  new client.Counter({
    name: 'qbsync_sync_runs_total',
    help: 'Runs by mode and status (run history)',
    labelNames: ['mode', 'status'] as const,
    registers: [registry],
    async collect() {
      const s = await snap();
      this.reset();
      for (const r of s.runs) this.inc({ mode: r.mode, status: r.status }, r.n);
    },
  });
  new client.Gauge({
    name: 'qbsync_last_successful_sync_timestamp_seconds',
    help: 'When the last succeeded run finished each entity (unix seconds)',
    labelNames: ['entity'] as const,
    registers: [registry],
    async collect() {
      const s = await snap();
      this.reset();
      for (const r of s.lastSync) this.set({ entity: r.entity }, r.at.getTime() / 1000);
    },
  });
  new client.Counter({
    name: 'qbsync_transform_rows_total',
    help: 'Rows inserted/updated/deleted by the last transform batch of each target (watermark stats)',
    labelNames: ['target', 'change'] as const,
    registers: [registry],
    async collect() {
      const s = await snap();
      this.reset();
      for (const t of s.transforms) for (const change of ['inserted', 'updated', 'deleted'] as const) this.inc({ target: t.target, change }, t.stats?.[change] ?? 0);
    },
  });
  new client.Gauge({
    name: 'qbsync_transform_watermark_fetch_id',
    help: 'Last raw.fetches id applied to each typed table',
    labelNames: ['target'] as const,
    registers: [registry],
    async collect() {
      const s = await snap();
      this.reset();
      for (const t of s.transforms) this.set({ target: t.target }, t.last_fetch_id);
    },
  });
  new client.Gauge({
    name: 'qbsync_transform_pending_fetches',
    help: 'Landed fetches of each entity not yet applied to its typed table',
    labelNames: ['target'] as const,
    registers: [registry],
    async collect() {
      const s = await snap();
      this.reset();
      for (const t of s.transforms) this.set({ target: t.target }, t.pending);
    },
  });
  new client.Gauge({
    name: 'qbsync_queue_depth',
    help: 'Jobs waiting per pg-boss queue',
    labelNames: ['queue'] as const,
    registers: [registry],
    async collect() {
      const s = await snap();
      this.reset();
      for (const [queue, n] of Object.entries(s.queues)) this.set({ queue }, n);
    },
  });
  return { registry, httpDuration };
}

interface Snapshot {
  totals: { requests: number; retries: number; rate_limited: number; pages: number; records: number };
  runs: Array<{ mode: string; status: string; n: number }>;
  lastSync: Array<{ entity: string; at: Date }>;
  transforms: Array<{ target: string; last_fetch_id: number; pending: number; stats: Record<string, number> | null }>;
  queues: Record<string, number>;
}

const EMPTY: Snapshot = { totals: { requests: 0, retries: 0, rate_limited: 0, pages: 0, records: 0 }, runs: [], lastSync: [], transforms: [], queues: {} };

async function readSnapshot(db: Database, boss?: PgBoss): Promise<Snapshot> {
  const [totals, runs, lastSync, transforms] = await Promise.all([
    db.pool.query(
      `SELECT coalesce(sum(requests), 0)::bigint AS requests, coalesce(sum(retries), 0)::bigint AS retries,
              coalesce(sum(rate_limited), 0)::bigint AS rate_limited, coalesce(sum(pages), 0)::bigint AS pages,
              coalesce(sum(records), 0)::bigint AS records FROM qbsync.sync_runs`,
    ),
    db.pool.query(`SELECT mode, status, count(*)::int AS n FROM qbsync.sync_runs GROUP BY 1, 2`),
    db.pool.query(
      `SELECT e.entity, max(e.finished_at) AS at FROM qbsync.sync_run_entities e
       WHERE e.status = 'succeeded' AND e.finished_at IS NOT NULL GROUP BY 1`,
    ),
    db.pool.query(
      `SELECT w.target, w.last_fetch_id, w.last_stats AS stats,
              (SELECT count(*) FROM raw.fetches f WHERE f.entity = w.target AND f.id > w.last_fetch_id)::int AS pending
       FROM qbsync.transform_watermarks w WHERE w.schema_name = 'qbench' ORDER BY 1`,
    ),
  ]);
  const queues: Record<string, number> = {};
  if (boss) {
    await Promise.all(
      Object.values(QUEUES).map(async (q) => {
        try {
          queues[q] = await boss.getQueueSize(q);
        } catch {
          /* queue not created yet */
        }
      }),
    );
  }
  return { totals: totals.rows[0], runs: runs.rows, lastSync: lastSync.rows, transforms: transforms.rows, queues };
}
