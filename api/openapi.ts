/**
 * The OpenAPI 3.1 document, built from the route list and the JSON Schemas in schemas/api/ (the same schemas
 * ajv validates requests with). Each schema file becomes components/schemas entries (<operationId>.<part>);
 * `$ref`s between files are rewritten to point into components.
 */
import { createRequire } from 'node:module';
import type { RouteDef } from './http.js';
import { SCHEMA_BASE, schemaFiles } from './validate.js';

const require = createRequire(import.meta.url);
const pkg = require('../package.json') as { version: string; description: string };

const componentName = (file: string, def: string) => `${file}.${def}`.replace(/[^A-Za-z0-9._-]/g, '_');

/** Rewrites refs ("common.json#/$defs/x", "#/$defs/x") into #/components/schemas/… and drops $id/$schema. */
function rewrite(node: unknown, file: string): unknown {
  if (Array.isArray(node)) return node.map((n) => rewrite(n, file));
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$id' || k === '$schema' || k === '$defs') continue;
    if (k === '$ref' && typeof v === 'string') {
      const m = /^(?:(?:https:\/\/qbsync\.dev\/schemas\/api\/)?([A-Za-z0-9_.-]+)\.json)?#\/\$defs\/([A-Za-z0-9_]+)$/.exec(v.replace(SCHEMA_BASE, ''));
      if (!m) throw new Error(`schemas/api/${file}.json: unsupported $ref ${v}`);
      out.$ref = `#/components/schemas/${componentName(m[1] ?? file, m[2])}`;
      continue;
    }
    out[k] = rewrite(v, file);
  }
  return out;
}

const ERROR_RESPONSES: Record<number, string> = {
  304: 'Not modified: the data version has not changed since the ETag given in If-None-Match',
  400: 'Invalid parameter: the body names the parameter and the rule it broke',
  401: 'Missing, unknown, expired or revoked bearer token',
  403: 'The token is valid but not an admin token',
  404: 'No such record',
  413: 'Request body too large',
  415: 'The request body is not JSON (Content-Type must be application/json)',
  423: 'Account locked after repeated failed logins',
  503: 'Not ready / job queue not available',
};

export function buildOpenApi(defs: RouteDef[]): Record<string, unknown> {
  const files = schemaFiles();
  const schemas: Record<string, unknown> = {};
  for (const [name, file] of files) {
    for (const [def, schema] of Object.entries(file.$defs ?? {})) schemas[componentName(name, def)] = rewrite(schema, name);
  }
  const paths: Record<string, Record<string, unknown>> = {};
  for (const d of defs) {
    const file = files.get(d.operationId);
    const parameters: unknown[] = [];
    for (const part of ['params', 'query'] as const) {
      const s = file?.$defs?.[part] as { properties?: Record<string, any>; required?: string[] } | undefined;
      for (const [name, prop] of Object.entries(s?.properties ?? {})) {
        const schema = rewrite(prop, d.operationId) as Record<string, unknown>;
        const { description, ...rest } = schema;
        parameters.push({
          name,
          in: part === 'params' ? 'path' : 'query',
          required: part === 'params' || (s?.required ?? []).includes(name),
          ...(description ? { description } : {}),
          schema: rest,
        });
      }
    }
    const ok = d.successStatus ?? 200;
    const responses: Record<string, unknown> = {
      [ok]: {
        description: d.summary,
        content: d.contentType
          ? { [d.contentType]: { schema: { type: 'string' } } }
          : file?.$defs?.response
            ? { 'application/json': { schema: { $ref: `#/components/schemas/${componentName(d.operationId, 'response')}` } } }
            : undefined,
      },
    };
    const errs = new Set<number>([...(d.errors ?? [])]);
    if (file?.$defs?.query || file?.$defs?.params || file?.$defs?.body) errs.add(400);
    if (d.method !== 'get') errs.add(415);
    if (d.access !== 'public') errs.add(401);
    if (d.access === 'admin') errs.add(403);
    if (d.cache !== 'none') errs.add(304);
    for (const s of [...errs].sort()) {
      responses[s] = {
        description: ERROR_RESPONSES[s] ?? 'Error',
        ...(s === 304 ? {} : { content: { 'application/json': { schema: { $ref: '#/components/schemas/common.error' } } } }),
      };
    }
    const op: Record<string, unknown> = {
      operationId: d.operationId,
      summary: d.summary,
      ...(d.description ? { description: d.description } : {}),
      tags: [d.tag],
      parameters,
      responses,
      security: d.access === 'public' ? [] : [{ bearer: [] }],
    };
    if (file?.$defs?.body) {
      op.requestBody = { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${componentName(d.operationId, 'body')}` } } } };
    }
    (paths[d.path] ??= {})[d.method] = op;
  }
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'qbsync reporting API',
      version: pkg.version,
      description:
        'Metrics, analytics, entities and sync control over the QBench data qbsync keeps in PostgreSQL. ' +
        'Compatible with the downloader\'s /api/v1/metrics API (same paths, parameters and response shapes); differences are listed in api/README.md.',
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'health', description: 'Liveness and readiness (no auth)' },
      { name: 'auth', description: 'Login' },
      { name: 'metrics', description: 'Downloader-compatible dashboard metrics' },
      { name: 'analytics', description: 'Order, sample and quality analytics' },
      { name: 'entities', description: 'Single records, with their raw history' },
      { name: 'sync', description: 'Enqueue and follow sync, replay and backfill runs (admin)' },
      { name: 'monitoring', description: 'Prometheus metrics' },
    ],
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'A login token (POST /api/auth/login) or an API token (`qbsync token create`), as `Authorization: Bearer <token>`.',
        },
      },
    },
  };
}
