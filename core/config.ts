/**
 * Configuration from the environment (and `.env` when present), validated with ajv against
 * schemas/config.schema.json. Every bad value becomes one line naming the variable; nothing
 * starts on a bad configuration.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject } from 'ajv';
import formatsPlugin from 'ajv-formats';
import dotenv from 'dotenv';
import { ConfigError } from './errors.js';

const require = createRequire(import.meta.url);
const schema = require('../schemas/config.schema.json') as { properties: Record<string, { description?: string }> };
const addFormats = formatsPlugin.default;

export type SimSize = 'tiny' | 'small' | 'medium' | 'large';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface Config {
  databaseUrl?: string;
  dataDir: string;
  pgPort?: number;
  qbench: {
    baseUrl?: string;
    tokenUrl?: string;
    clientId: string;
    clientSecret: string;
    pageSize: number;
    rateLimit: number;
    rateWindowSeconds: number;
    timeoutSeconds: number;
  };
  api: { host: string; port: number; corsOrigin?: string };
  /** API login: token lifetime and lockout after repeated failures. */
  auth: { tokenTtlHours: number; maxFailedLogins: number; lockoutHours: number };
  logLevel: LogLevel;
  logDir?: string;
  timezone: string;
  slaHours: number;
  syncCron?: string;
  /** QBSYNC_BODY_WORKERS, or its default for this machine (ingest/body-pool.ts). */
  bodyWorkers: number;
  alertWebhook?: string;
  /** Alert when an entity's watermark is older than this (hours). */
  alertStaleHours: number;
  /** Alert when one sync run got more than this many 429s. */
  alertRateLimited: number;
  sim: { size: SimSize; seed: number; port: number };
}

type Env = Record<string, string | undefined>;

const ajv = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true, strict: false });
addFormats(ajv);
const validate = ajv.compile<Record<string, unknown>>(schema);

/** Reads `.env` from the working directory (values already in the environment win). */
export function readDotEnv(cwd = process.cwd()): Env {
  const file = path.join(cwd, '.env');
  if (!fs.existsSync(file)) return {};
  return dotenv.parse(fs.readFileSync(file));
}

function describeError(e: ErrorObject, input: Env): string {
  const name = e.instancePath.replace(/^\//, '');
  const raw = input[name];
  // Never echo a secret or a URL that may hold a password back to the terminal.
  const shown = raw === undefined || /SECRET|PASSWORD|DATABASE_URL|TOKEN/.test(name) ? '' : ` (got "${raw}")`;
  switch (e.keyword) {
    case 'type':
      return `${name} must be ${e.params.type === 'integer' ? 'a whole number' : `a ${e.params.type}`}${shown}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
      return `${name} ${e.message}${shown}`; // ajv's message already reads "must be <= 50"
    case 'enum':
      return `${name} must be one of ${(e.params.allowedValues as string[]).join(', ')}${shown}`;
    case 'pattern':
    case 'format':
      return `${name} is not a valid ${name.endsWith('URL') || name.endsWith('WEBHOOK') ? 'URL' : 'value'}${
        name === 'DATABASE_URL' ? ' (expected postgres://user:password@host:port/database)' : ''
      }${shown}`;
    default:
      return `${name} ${e.message ?? 'is invalid'}${shown}`;
  }
}

function isValidTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Builds the configuration from `env` (default: process.env over `.env`). Empty strings count as unset,
 * so `FOO= qbsync …` falls back to the default instead of failing.
 */
export function loadConfig(env: Env = { ...readDotEnv(), ...process.env }): Config {
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) {
    const v = env[key];
    if (v !== undefined && v.trim() !== '') input[key] = v.trim();
  }
  const stringInput = Object.fromEntries(Object.entries(input).map(([k, v]) => [k, String(v)]));
  const problems: string[] = [];
  if (!validate(input)) {
    const seen = new Set<string>();
    for (const e of validate.errors ?? []) {
      const line = describeError(e, stringInput);
      const key = e.instancePath;
      if (seen.has(key)) continue; // one line per variable
      seen.add(key);
      problems.push(line);
    }
  }
  if (typeof input.QBSYNC_TIMEZONE === 'string' && !isValidTimezone(input.QBSYNC_TIMEZONE)) {
    problems.push(`QBSYNC_TIMEZONE must be an IANA timezone such as UTC or America/Bogota (got "${input.QBSYNC_TIMEZONE}")`);
  }
  if (input.QBENCH_BASE_URL && (!env.QBENCH_CLIENT_ID || !env.QBENCH_CLIENT_SECRET)) {
    problems.push('QBENCH_CLIENT_ID and QBENCH_CLIENT_SECRET must be set when QBENCH_BASE_URL points at a real QBench');
  }
  if (problems.length) throw new ConfigError(problems);

  const v = input as Record<string, any>;
  return {
    databaseUrl: v.DATABASE_URL,
    dataDir: path.resolve(v.QBSYNC_DATA_DIR),
    pgPort: v.QBSYNC_PG_PORT,
    qbench: {
      baseUrl: v.QBENCH_BASE_URL?.replace(/\/+$/, ''),
      tokenUrl: v.QBENCH_TOKEN_URL,
      clientId: v.QBENCH_CLIENT_ID,
      clientSecret: v.QBENCH_CLIENT_SECRET,
      pageSize: v.QBENCH_PAGE_SIZE,
      rateLimit: v.QBENCH_RATE_LIMIT,
      rateWindowSeconds: v.QBENCH_RATE_WINDOW_SECONDS,
      timeoutSeconds: v.QBENCH_TIMEOUT_SECONDS,
    },
    api: { host: v.QBSYNC_API_HOST, port: v.QBSYNC_API_PORT, corsOrigin: v.QBSYNC_CORS_ORIGIN },
    auth: { tokenTtlHours: v.QBSYNC_AUTH_TOKEN_TTL_HOURS, maxFailedLogins: v.QBSYNC_AUTH_MAX_FAILED_LOGINS, lockoutHours: v.QBSYNC_AUTH_LOCKOUT_HOURS },
    logLevel: v.QBSYNC_LOG_LEVEL,
    logDir: v.QBSYNC_LOG_DIR ? path.resolve(v.QBSYNC_LOG_DIR) : undefined,
    timezone: v.QBSYNC_TIMEZONE,
    slaHours: v.QBSYNC_SLA_HOURS,
    syncCron: v.QBSYNC_SYNC_CRON,
    // Workers pay only with cores to spare for them (measured in bench/ingest): none on a 2- or 3-core machine.
    bodyWorkers: v.QBSYNC_BODY_WORKERS ?? (os.availableParallelism() >= 4 ? 2 : 0),
    alertWebhook: v.QBSYNC_ALERT_WEBHOOK,
    alertStaleHours: v.QBSYNC_ALERT_STALE_HOURS,
    alertRateLimited: v.QBSYNC_ALERT_RATE_LIMITED,
    sim: { size: v.QBSYNC_SIM_SIZE, seed: v.QBSYNC_SIM_SEED, port: v.QBSYNC_SIM_PORT },
  };
}

/** Values that must never appear in logs, errors, raw params or API responses. */
export function secretsOf(config: Config): string[] {
  const out = [config.qbench.clientSecret];
  if (config.databaseUrl) {
    try {
      const pw = new URL(config.databaseUrl).password;
      if (pw) out.push(decodeURIComponent(pw));
    } catch {
      /* validated already */
    }
  }
  return out.filter((s) => s && s.length >= 4);
}

/** Describes every variable for `qbsync config --help`-style docs and the README table. */
export function configDocs(): Array<{ name: string; description: string; default?: unknown }> {
  return Object.entries(schema.properties).map(([name, p]) => ({
    name,
    description: (p as { description?: string }).description ?? '',
    default: (p as { default?: unknown }).default,
  }));
}
