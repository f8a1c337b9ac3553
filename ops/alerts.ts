/**
 * Alerts: a JSON message POSTed to QBSYNC_ALERT_WEBHOOK when
 *   - a sync fails (`sync_failed`, critical),
 *   - an entity's watermark has not moved for QBSYNC_ALERT_STALE_HOURS (`watermark_stale`, warning; at most one
 *     per entity per period, across every process, through qbsync.alerts),
 *   - a run got more than QBSYNC_ALERT_RATE_LIMITED HTTP 429 answers (`rate_limited`, warning).
 *
 * Message: `{event, severity, message, run_id?, entity?, details, at}`. Every alert is also recorded in
 * qbsync.alerts (with whether and after how many tries it was delivered), webhook or not.
 *
 * Delivery never blocks or fails a sync: the callers run it after the run is recorded, every error is caught
 * and logged, and the tries (default 4, backoff 1 s, 2 s, 4 s, each POST limited to 5 s, 20 s in all) stop early.
 * No secret goes out: the payload passes through the logger's redaction (registered secrets, bearer tokens,
 * JWTs, URL passwords) and the configured secrets are cut out explicitly; the webhook URL itself (which may
 * embed a token) is never logged, only its host.
 */
import os from 'node:os';
import { createRequire } from 'node:module';
import type pg from 'pg';
import { errorMessage, redactString, secretsOf, type Config, type Logger } from '../core/index.js';
import type { SyncOutcome } from '../ingest/index.js';

const require = createRequire(import.meta.url);
const pkg = require('../package.json') as { version: string };

export type AlertEvent = 'sync_failed' | 'watermark_stale' | 'rate_limited';
export type AlertSeverity = 'critical' | 'warning' | 'info';

export interface AlertMessage {
  event: AlertEvent;
  severity: AlertSeverity;
  message: string;
  run_id?: string;
  entity?: string;
  details: Record<string, unknown>;
  /** ISO 8601. */
  at: string;
}

export interface AlerterOptions {
  config: Config;
  logger: Logger;
  /** Where alerts are recorded and watermarks read (optional: without it alerts are only sent). */
  pool?: pg.Pool;
  /** Delivery tries in all (default 4). */
  attempts?: number;
  /** First backoff between tries, doubled each time (default 1000 ms). */
  backoffMs?: number;
  /** Per-POST timeout (default 5000 ms). */
  timeoutMs?: number;
  /** Give up delivering after this long in all (default 20 000 ms). */
  deadlineMs?: number;
  fetch?: typeof fetch;
}

export interface DeliveryResult {
  delivered: boolean;
  attempts: number;
  error?: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Where the webhook points, for log lines: the host only (the path of a webhook URL is often its secret). */
export function webhookHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the webhook';
  }
}

export class Alerter {
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly pool?: pg.Pool;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;
  private readonly deadlineMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly secrets: string[];

  constructor(opts: AlerterOptions) {
    this.config = opts.config;
    this.logger = opts.logger;
    this.pool = opts.pool;
    this.attempts = Math.max(1, opts.attempts ?? 4);
    this.backoffMs = opts.backoffMs ?? 1000;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.deadlineMs = opts.deadlineMs ?? 20_000;
    this.fetchImpl = opts.fetch ?? globalThis.fetch;
    this.secrets = [...secretsOf(opts.config), ...(opts.config.alertWebhook ? [opts.config.alertWebhook] : [])];
  }

  get enabled(): boolean {
    return !!this.config.alertWebhook;
  }

  /** Removes anything secret from a string. */
  private scrub(text: string): string {
    let out = redactString(text);
    for (const s of this.secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
    return out;
  }

  /** The message as it leaves: every string in it scrubbed. */
  build(msg: Omit<AlertMessage, 'at' | 'details'> & { details?: Record<string, unknown>; at?: Date }): AlertMessage {
    const out: AlertMessage = {
      event: msg.event,
      severity: msg.severity,
      message: msg.message,
      ...(msg.run_id ? { run_id: msg.run_id } : {}),
      ...(msg.entity ? { entity: msg.entity } : {}),
      details: { host: os.hostname(), qbsync_version: pkg.version, ...(msg.details ?? {}) },
      at: (msg.at ?? new Date()).toISOString(),
    };
    return JSON.parse(this.scrub(JSON.stringify(out))) as AlertMessage;
  }

  /** Records the alert and delivers it (when a webhook is configured). Never throws. */
  async raise(input: Parameters<Alerter['build']>[0]): Promise<DeliveryResult & { message: AlertMessage }> {
    const message = this.build(input);
    let alertId: number | undefined;
    if (this.pool) {
      try {
        const { rows } = await this.pool.query<{ alert_id: number }>(
          `INSERT INTO qbsync.alerts (event, severity, entity, run_id, message, details, created_at)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) RETURNING alert_id`,
          [message.event, message.severity, message.entity ?? null, message.run_id ?? null, message.message, JSON.stringify(message.details), message.at],
        );
        alertId = rows[0]?.alert_id;
      } catch (err) {
        this.logger.warn(`could not record the alert: ${this.scrub(errorMessage(err))}`);
      }
    }
    this.logger.warn(`alert ${message.event}: ${message.message}`, { alert: message.event, severity: message.severity, entity: message.entity });
    if (!this.config.alertWebhook) return { delivered: false, attempts: 0, message };
    const result = await this.deliver(message);
    if (this.pool && alertId !== undefined) {
      await this.pool
        .query(`UPDATE qbsync.alerts SET delivered = $2, attempts = $3, last_error = $4 WHERE alert_id = $1`, [
          alertId, result.delivered, result.attempts, result.error ?? null,
        ])
        .catch(() => undefined);
    }
    return { ...result, message };
  }

  /** POSTs the message, retrying network errors, timeouts, 408, 429 and 5xx with exponential backoff. Never throws. */
  async deliver(message: AlertMessage): Promise<DeliveryResult> {
    const url = this.config.alertWebhook;
    if (!url) return { delivered: false, attempts: 0, error: 'no webhook configured' };
    const host = webhookHost(url);
    const started = Date.now();
    const body = JSON.stringify(message);
    let error = '';
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        const res = await this.fetchImpl(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': `qbsync/${pkg.version}` },
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.logger.info(`alert ${message.event} delivered to ${host}`, { attempts: attempt });
          return { delivered: true, attempts: attempt };
        }
        error = `HTTP ${res.status}`;
        if (res.status < 500 && res.status !== 408 && res.status !== 429) {
          this.logger.warn(`alert ${message.event} refused by ${host} (${error}); not retried`);
          return { delivered: false, attempts: attempt, error };
        }
      } catch (err) {
        error = this.scrub(errorMessage(err));
      }
      const wait = this.backoffMs * 2 ** (attempt - 1);
      if (attempt === this.attempts || Date.now() - started + wait > this.deadlineMs) {
        this.logger.warn(`alert ${message.event} not delivered to ${host} after ${attempt} tries: ${error}`);
        return { delivered: false, attempts: attempt, error };
      }
      this.logger.info(`alert ${message.event}: ${host} answered ${error}; retrying in ${wait} ms`);
      await sleep(wait);
    }
    return { delivered: false, attempts: this.attempts, error };
  }

  /**
   * After a sync run (the worker's sync handler and `qbsync sync`): a failed run, too many 429s, and the stale
   * watermarks. Never throws.
   */
  async afterSync(outcome: SyncOutcome): Promise<AlertMessage[]> {
    const sent: AlertMessage[] = [];
    try {
      if (outcome.status === 'failed') {
        const failed = outcome.entities.find((e) => e.status === 'failed');
        sent.push(
          (
            await this.raise({
              event: 'sync_failed',
              severity: 'critical',
              message: `sync run ${outcome.runId} failed${outcome.error ? `: ${outcome.error}` : ''}`,
              run_id: outcome.runId,
              entity: failed?.entity,
              details: {
                status: outcome.status, error: outcome.error ?? null, requests: outcome.requests, retries: outcome.retries,
                rate_limited: outcome.rateLimited, duration_ms: outcome.durationMs,
                entities: outcome.entities.map((e) => ({ entity: e.entity, mode: e.mode, status: e.status, pages: e.pages, records: e.records, error: e.error ?? null })),
                what_to_do: 'run `qbsync status` for the run and `qbsync doctor` for QBench, credentials and the database; the next sync resumes from the checkpoints',
              },
            })
          ).message,
        );
      }
      if (outcome.rateLimited > this.config.alertRateLimited) sent.push(await this.rateLimited(outcome.runId, outcome.rateLimited, outcome.requests));
      sent.push(...(await this.checkStale()));
    } catch (err) {
      this.logger.warn(`alerts after run ${outcome.runId} failed: ${this.scrub(errorMessage(err))}`);
    }
    return sent;
  }

  /** A sync that threw instead of returning an outcome (database lost, …). Never throws. */
  async afterSyncError(runId: string | undefined, err: unknown): Promise<void> {
    try {
      await this.raise({
        event: 'sync_failed',
        severity: 'critical',
        message: `sync${runId ? ` run ${runId}` : ''} failed: ${errorMessage(err)}`,
        run_id: runId,
        details: {
          status: 'failed', error: errorMessage(err),
          what_to_do: 'run `qbsync doctor`; the next sync resumes from the checkpoints',
        },
      });
    } catch (e) {
      this.logger.warn(`alert for a failed sync failed: ${this.scrub(errorMessage(e))}`);
    }
  }

  private async rateLimited(runId: string, count: number, requests: number): Promise<AlertMessage> {
    const r = await this.raise({
      event: 'rate_limited',
      severity: 'warning',
      message: `sync run ${runId} was rate limited by QBench ${count} times (threshold ${this.config.alertRateLimited})`,
      run_id: runId,
      details: {
        rate_limited: count, requests, threshold: this.config.alertRateLimited,
        rate_budget: `${this.config.qbench.rateLimit} requests / ${this.config.qbench.rateWindowSeconds} s`,
        what_to_do: 'another client may share the QBench API client, or QBENCH_RATE_LIMIT is too high: lower it (QBench allows 300 per 60 s) and check `qbsync doctor`',
      },
    });
    return r.message;
  }

  /**
   * Entities whose watermark has not moved for QBSYNC_ALERT_STALE_HOURS (no successful catch-up), each alerted at
   * most once per period across every process (an advisory lock serialises the check).
   */
  async checkStale(): Promise<AlertMessage[]> {
    if (!this.pool) return [];
    const hours = this.config.alertStaleHours;
    const client = await this.pool.connect();
    const due: Array<{ entity: string; since_at: Date; updated_at: Date; hours: number }> = [];
    try {
      await client.query('BEGIN');
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('qbsync.alerts.watermark_stale'))`);
      const { rows } = await client.query<{ entity: string; since_at: Date; updated_at: Date; hours: number }>(
        `SELECT w.entity, w.since_at, w.updated_at, round((extract(epoch FROM now() - w.updated_at) / 3600)::numeric, 1)::float8 AS hours
         FROM qbsync.watermarks w
         WHERE w.updated_at < now() - make_interval(secs => $1 * 3600)
           AND NOT EXISTS (SELECT 1 FROM qbsync.alerts a WHERE a.event = 'watermark_stale' AND a.entity = w.entity
                             AND a.created_at > now() - make_interval(secs => $1 * 3600))
         ORDER BY w.entity`,
        [hours],
      );
      // Claimed inside the lock, delivered after it (delivery may take seconds).
      for (const r of rows) {
        await client.query(
          `INSERT INTO qbsync.alerts (event, severity, entity, message, details) VALUES ('watermark_stale', 'warning', $1, 'claimed', '{}')`,
          [r.entity],
        );
        due.push(r);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    const out: AlertMessage[] = [];
    for (const r of due) {
      const message = this.build({
        event: 'watermark_stale',
        severity: 'warning',
        message: `${r.entity}: no successful catch-up for ${r.hours} hours (threshold ${hours}); its data may be out of date`,
        entity: r.entity,
        details: {
          watermark: new Date(r.since_at).toISOString(), last_moved_at: new Date(r.updated_at).toISOString(), hours_behind: r.hours, threshold_hours: hours,
          what_to_do: 'check that workers run and the schedule is set (`qbsync schedule show`), and `qbsync status` for failed runs',
        },
      });
      const { rows } = await this.pool.query<{ alert_id: number }>(
        `UPDATE qbsync.alerts SET message = $2, details = $3::jsonb, created_at = $4
         WHERE alert_id = (SELECT max(alert_id) FROM qbsync.alerts WHERE event = 'watermark_stale' AND entity = $1) RETURNING alert_id`,
        [r.entity, message.message, JSON.stringify(message.details), message.at],
      );
      this.logger.warn(`alert watermark_stale: ${message.message}`, { alert: message.event, entity: r.entity });
      if (this.config.alertWebhook) {
        const d = await this.deliver(message);
        await this.pool
          .query(`UPDATE qbsync.alerts SET delivered = $2, attempts = $3, last_error = $4 WHERE alert_id = $1`, [rows[0]?.alert_id, d.delivered, d.attempts, d.error ?? null])
          .catch(() => undefined);
      }
      out.push(message);
    }
    return out;
  }
}

export function createAlerter(opts: AlerterOptions): Alerter {
  return new Alerter(opts);
}
