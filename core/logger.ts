/**
 * winston JSON-lines logger. Every line carries `run_id` (the sync/replay/backfill run, or the process's
 * own id) and is passed through redaction, so no secret reaches a log file or a terminal.
 * Logs go to stderr: stdout stays free for command output (`qbsync status --json | jq`).
 */
import crypto from 'node:crypto';
import winston from 'winston';
import DailyRotateFile from 'winston-daily-rotate-file';
import { redact, redactString } from './redact.js';
import type { LogLevel } from './config.js';

export type Logger = winston.Logger;

export function newRunId(): string {
  return crypto.randomUUID();
}

const redactFormat = winston.format((info) => {
  const { level, message, ...rest } = info as Record<string | symbol, unknown> & { level: string; message: unknown };
  const clean = redact(rest as Record<string, unknown>);
  const out = info as Record<string | symbol, unknown>;
  for (const k of Object.keys(rest)) out[k] = (clean as Record<string, unknown>)[k];
  out.message = typeof message === 'string' ? redactString(message) : redact(message);
  out.level = level;
  return info;
});

export interface LoggerOptions {
  level?: LogLevel | 'silent';
  runId?: string;
  logDir?: string;
  /** Extra destination (tests capture every line to look for secrets). */
  stream?: NodeJS.WritableStream;
  /** Write to stderr (default true). */
  console?: boolean;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const runId = opts.runId ?? newRunId();
  const format = winston.format.combine(
    // The process's run id unless the line carries its own: winston's defaultMeta would overwrite the run_id
    // of a child logger (logger.child({ run_id })), so a sync's lines would name the process, not the run.
    winston.format((info) => {
      if (info.run_id === undefined) info.run_id = runId;
      return info;
    })(),
    winston.format.errors({ stack: false }),
    redactFormat(),
    winston.format.timestamp(),
    winston.format.json(),
  );
  const transports: winston.transport[] = [];
  if (opts.console !== false && opts.level !== 'silent') {
    transports.push(new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] }));
  }
  if (opts.logDir) {
    transports.push(
      new DailyRotateFile({ dirname: opts.logDir, filename: 'qbsync-%DATE%.log', datePattern: 'YYYY-MM-DD', maxFiles: '30d' }),
    );
  }
  if (opts.stream) transports.push(new winston.transports.Stream({ stream: opts.stream }));
  if (transports.length === 0) transports.push(new winston.transports.Console({ silent: true }));
  return winston.createLogger({
    level: opts.level === 'silent' ? 'error' : (opts.level ?? 'info'),
    format,
    transports,
  });
}
