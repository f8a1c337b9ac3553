/**
 * Small HTTP vocabulary shared by the API modules: errors that become JSON answers, replies with a status
 * other than 200, and the route definition every module exports (the same list drives express, the OpenAPI
 * document, validation, auth and caching).
 */
import type { Request, Response } from 'express';
import type { Config, Database, Logger } from '../core/index.js';
import type { PgBoss } from '../core/boss.js';
import type { Principal } from './auth/tokens.js';
import type { Enqueuer } from './jobs.js';

export interface ErrorDetail {
  /** The parameter (query or path name, or body field) at fault, when there is one. */
  parameter?: string;
  in?: 'query' | 'path' | 'body' | 'header';
  /** The rule it broke: a JSON Schema keyword (type, maximum, pattern, additionalProperties…) or our own (range, format). */
  rule?: string;
  message: string;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetail[],
    readonly headers?: Record<string, string>,
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export const badRequest = (details: ErrorDetail[]): HttpError =>
  new HttpError(400, 'invalid_request', details.map((d) => (d.parameter ? `${d.parameter}: ${d.message}` : d.message)).join('; '), details);

export const notFound = (what: string): HttpError => new HttpError(404, 'not_found', `${what} not found`);

/** A handler's answer with a status other than 200. */
export class Reply {
  constructor(readonly status: number, readonly body: unknown, readonly headers: Record<string, string> = {}) {}
}

export interface AppDeps {
  db: Database;
  config: Config;
  logger: Logger;
  /** pg-boss, for the sync-control endpoints and queue depth; without it those answer 503. */
  boss?: PgBoss;
  /** Override of the job enqueuer (tests); default: jobs/enqueue.ts when present, else the built-in one. */
  enqueue?: Enqueuer;
}

export interface HandlerInput {
  query: Record<string, any>;
  params: Record<string, any>;
  body: any;
  principal?: Principal;
  deps: AppDeps;
  req: Request;
  res: Response;
}

export type Access = 'public' | 'token' | 'admin';
/** Conditional GET source: 'data' = typed tables (transform watermarks), 'raw' = raw landing, 'none' = no ETag. */
export type CacheSource = 'data' | 'raw' | 'none';

export interface RouteDef {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI-style path: /api/v1/entities/orders/{id}. */
  path: string;
  /** Also the name of the schema file schemas/api/<operationId>.json ($defs: query, params, body, response). */
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  access: Access;
  cache: CacheSource;
  /**
   * The answer also depends on the current time (ages, "overdue", windows that end now): its ETag changes every
   * minute as well as with the data, and it carries no Last-Modified (the data's time would let a stale answer 304).
   */
  clock?: boolean;
  /** Status of a successful answer (default 200). */
  successStatus?: number;
  /** Non-JSON success content type (e.g. Prometheus text). */
  contentType?: string;
  /** Extra documented error statuses besides 400/401/403/500. */
  errors?: number[];
  handler(input: HandlerInput): Promise<unknown>;
}
