/**
 * Shared plumbing for every command: configuration (exit 2 on a bad value), the logger, error
 * reporting as one clean line (exit 1 on failure, 2 on usage), and shutdown of whatever was started.
 */
import net from 'node:net';
import { InvalidArgumentError, type Command } from 'commander';
import {
  loadConfig, createLogger, newRunId, QbsyncError, errorMessage, redactString, runShutdownHandlers, onShutdown,
  openDatabase, registerSecret, type Config, type Logger, type LogLevel, type Database, type OpenOptions,
} from '../core/index.js';

export interface CliContext {
  config: Config;
  logger: Logger;
  runId: string;
  /** Opens (and registers for shutdown) the database, starting the embedded server when needed. */
  db(opts?: OpenOptions): Promise<Database>;
}

export function globalLogLevel(cmd: Command): LogLevel | undefined {
  let root: Command = cmd;
  while (root.parent) root = root.parent;
  return root.opts().logLevel as LogLevel | undefined;
}

/**
 * Cuts every line of a message to `max` characters (a 100 kB argument echoed back is noise, and the problem is
 * named at the start of the line anyway).
 */
export function elideLines(text: string, max = 300): string {
  return text
    .split('\n')
    .map((l) => (l.length > max ? `${l.slice(0, max - 40)} … (${l.length - (max - 40)} more characters)` : l))
    .join('\n');
}

export function fail(err: unknown): number {
  const code = err instanceof QbsyncError ? err.exitCode : 1;
  process.stderr.write(`qbsync: ${elideLines(redactString(errorMessage(err)))}\n`);
  if (process.env.QBSYNC_DEBUG_STACK && err instanceof Error && err.stack) process.stderr.write(redactString(err.stack) + '\n');
  return code;
}

/**
 * Wraps a command handler. The handler returns the exit code (default 0). Long-running commands
 * (api, worker, sim, start) keep the process alive themselves and return only when stopped.
 */
export function action<A extends unknown[]>(
  handler: (ctx: CliContext, ...args: A) => Promise<number | void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args[args.length - 1] as Command;
    let code = 0;
    try {
      const config = loadConfig();
      registerSecret(config.qbench.clientSecret);
      const runId = newRunId();
      const logger = createLogger({ level: globalLogLevel(cmd) ?? config.logLevel, runId, logDir: config.logDir });
      let db: Database | undefined;
      const ctx: CliContext = {
        config,
        logger,
        runId,
        async db(opts) {
          if (!db) {
            db = await openDatabase(config, logger, opts);
            const opened = db;
            onShutdown(() => opened.close());
          }
          return db;
        },
      };
      code = (await handler(ctx, ...args)) ?? 0;
    } catch (err) {
      code = fail(err);
    }
    await runShutdownHandlers();
    process.exitCode = code;
  };
}

/** commander argument parser for whole numbers within a range. */
export function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be a whole number (got "${value}")`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max} (got ${n})`);
    return n;
  };
}

export function numberArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number (got "${value}")`);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max} (got ${n})`);
    return n;
  };
}

/** Strict YYYY-MM-DD (or full ISO timestamp) date argument, as a UTC Date. */
export function dateArg(name: string) {
  return (value: string): Date => {
    const v = value.trim();
    const ok = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(v);
    const d = new Date(/T/.test(v) && !/(Z|[+-]\d{2}:\d{2})$/.test(v) ? `${v}Z` : v);
    if (!ok || Number.isNaN(d.getTime()) || (v.length === 10 && d.toISOString().slice(0, 10) !== v)) {
      throw new InvalidArgumentError(`${name} must be a date like 2024-01-31 or 2024-01-31T08:00:00Z (got "${value}")`);
    }
    return d;
  };
}

/** An interface to bind: an IP address (IPv6 with or without brackets) or a host name (RFC 1123 labels). */
export function hostArg(name: string) {
  return (value: string): string => {
    const v = value.trim().replace(/^\[(.*)\]$/, '$1');
    const hostname = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
    if (!net.isIP(v) && !hostname.test(v)) throw new InvalidArgumentError(`${name} must be an IP address or a host name such as 127.0.0.1 or localhost (got "${value}")`);
    return v;
  };
}

/** An IANA timezone name (what Intl accepts): UTC, America/Bogota… */
export function timezoneArg(name: string) {
  return (value: string): string => {
    const v = value.trim();
    try {
      if (!v) throw new RangeError('empty');
      new Intl.DateTimeFormat('en-US', { timeZone: v });
    } catch {
      throw new InvalidArgumentError(`${name} must be an IANA timezone such as UTC or America/Bogota (got "${value}")`);
    }
    return v;
  };
}

/** A file path: not empty (an empty path would name the current directory). */
export function fileArg(name: string) {
  return (value: string): string => {
    if (!value.trim()) throw new InvalidArgumentError(`${name} needs a file name`);
    return value;
  };
}
