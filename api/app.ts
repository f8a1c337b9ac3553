/**
 * createApp({db, config, logger, boss?}) → the express app (no listen; api/server.ts does that).
 *
 * Every route is a RouteDef (api/http.ts) from one of api/routes/*.ts; the same list drives express, auth,
 * validation (ajv, schemas/api/*.json), conditional GET and the OpenAPI document at /api/openapi.json
 * (Swagger UI at /api/docs).
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import swaggerUi from 'swagger-ui-express';
import { redactString } from '../core/index.js';
import { maskTokens, verifyToken, type Principal } from './auth/tokens.js';
import { dataVersion, etagFor, notModified, setCacheHeaders } from './etag.js';
import { HttpError, Reply, type AppDeps, type RouteDef } from './http.js';
import { defaultEnqueuer } from './jobs.js';
import { buildOpenApi } from './openapi.js';
import { createMetrics } from './prometheus.js';
import { cors, securityHeaders } from './security.js';
import { validatePart } from './validate.js';
import { healthRoutes } from './routes/health.js';
import { authRoutes } from './routes/auth.js';
import { metricsRoutes } from './routes/metrics.js';
import { analyticsRoutes } from './routes/analytics.js';
import { entityRoutes } from './routes/entities.js';
import { syncRoutes } from './routes/sync.js';
import { monitoringRoutes } from './routes/monitoring.js';
import { mountDashboard } from './dashboard/index.js';

export const BODY_LIMIT = '32kb';
/** BODY_LIMIT in bytes (body-parser reads '32kb' as 32 × 1024). */
export const BODY_LIMIT_BYTES = 32 * 1024;


/** All routes, in documentation order. */
export function allRoutes(): RouteDef[] {
  return [...healthRoutes(), ...authRoutes(), ...metricsRoutes(), ...analyticsRoutes(), ...entityRoutes(), ...syncRoutes(), ...monitoringRoutes()];
}

/** /api/v1/entities/{kind}/{id} → /api/v1/entities/:kind/:id */
const expressPath = (p: string) => p.replace(/\{([A-Za-z_]+)\}/g, ':$1');

function bearer(req: Request): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(h);
  return m ? m[1] : '';
}

/** A request that carries a body (a Content-Length above 0, or a chunked one). */
function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

export interface QbsyncApp extends express.Express {
  locals: express.Express['locals'] & { routes: RouteDef[]; openapi: Record<string, unknown> };
}

export function createApp(deps: AppDeps): QbsyncApp {
  const { db, config, logger } = deps;
  if (!deps.enqueue && deps.boss) deps = { ...deps, enqueue: defaultEnqueuer(db, deps.boss) };
  const routes = allRoutes();
  const openapi = buildOpenApi(routes);
  const metrics = createMetrics(db, logger, deps.boss);
  const settings = { sla: config.slaHours, tz: config.timezone };

  const app = express() as unknown as QbsyncApp;
  app.locals.routes = routes;
  app.locals.openapi = openapi;
  app.locals.metricsRegistry = metrics.registry;
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(securityHeaders);
  app.use(cors(config.api.corsOrigin));

  // Timing and the access log (path only: no query string, no headers, so no token can reach a log line).
  app.use((req: Request, res: Response, next: NextFunction) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = (res.locals.route as string | undefined) ?? 'unmatched';
      metrics.httpDuration.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
      const line = {
        method: req.method,
        route,
        path: maskTokens(req.path).slice(0, 300),
        status: res.statusCode,
        duration_ms: Math.round(seconds * 10000) / 10,
        principal: (res.locals.principal as Principal | undefined)?.name,
      };
      if (res.statusCode >= 500) logger.error('api request failed', line);
      else if (res.statusCode >= 400) logger.info('api request refused', line);
      else logger.debug('api request', line);
    });
    next();
  });

  // A declared Content-Length over the limit is refused before one byte of the body is read: body-parser would
  // read (and discard) the whole refused body first, so a client declaring 300 kB and sending nothing held the
  // connection until requestTimeout. The answer closes the connection (Connection: close), so what the client
  // may still send is never read either.
  app.use((req: Request, _res: Response, next: NextFunction) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > BODY_LIMIT_BYTES) {
      return next(new HttpError(413, 'payload_too_large', `the request body is larger than ${BODY_LIMIT} (Content-Length ${Number(declared)})`, undefined, { Connection: 'close' }));
    }
    next();
  });
  app.use(express.json({ limit: BODY_LIMIT_BYTES, strict: true }));

  for (const def of routes) {
    app[def.method](expressPath(def.path), async (req: Request, res: Response) => {
      res.locals.route = def.path;
      let principal: Principal | undefined;
      if (def.access !== 'public') {
        const token = bearer(req);
        if (token === undefined) throw new HttpError(401, 'unauthorized', 'a bearer token is required (Authorization: Bearer <token>)', undefined, { 'WWW-Authenticate': 'Bearer' });
        principal = token ? await verifyToken(db.pool, token) : undefined;
        if (!principal) throw new HttpError(401, 'invalid_token', 'the token is unknown, expired or revoked', undefined, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
        res.locals.principal = principal;
        if (def.access === 'admin' && !principal.isAdmin) throw new HttpError(403, 'forbidden', 'this operation needs an admin token');
      }
      // A body is JSON or nothing: a form or text/plain body would otherwise be ignored and the route run
      // with its defaults (POST /api/v1/sync with `mode=full` as a form would enqueue an incremental sync).
      if (def.method !== 'get' && hasBody(req) && !req.is('application/json')) {
        throw new HttpError(415, 'unsupported_media_type', 'the request body must be JSON (Content-Type: application/json)');
      }
      const params = validatePart(def.operationId, 'params', req.params);
      const query = validatePart(def.operationId, 'query', req.query);
      const body = def.method === 'get' ? {} : validatePart(def.operationId, 'body', req.body ?? {});

      let etag: string | undefined;
      let modified: Date | null = null;
      if (def.cache !== 'none' && def.method === 'get') {
        const version = await dataVersion(db.pool, def.cache);
        etag = etagFor(def.clock ? { ...version, tag: `${version.tag}.m${Math.floor(Date.now() / 60_000)}` } : version, def.path, [params, query], settings);
        modified = def.clock ? null : version.modified;
        if (notModified(req, etag, modified)) {
          setCacheHeaders(res, etag, modified);
          res.status(304).end();
          return;
        }
      }
      const out = await def.handler({ query, params, body, principal, deps, req, res });
      if (res.headersSent) return;
      if (etag) setCacheHeaders(res, etag, modified);
      else res.setHeader('Cache-Control', 'no-store');
      if (out instanceof Reply) {
        for (const [k, v] of Object.entries(out.headers)) res.setHeader(k, v);
        res.status(out.status);
        if (def.contentType) res.type(def.contentType).send(out.body);
        else res.json(out.body);
        return;
      }
      res.status(def.successStatus ?? 200);
      if (def.contentType) res.type(def.contentType).send(out);
      else res.json(out);
    });
  }

  // A known path with a method it does not take: 405 with Allow (OPTIONS: 204 with Allow), not a 404.
  const allowed = new Map<string, string[]>();
  for (const def of routes) {
    const methods = allowed.get(def.path) ?? [];
    methods.push(...(def.method === 'get' ? ['GET', 'HEAD'] : [def.method.toUpperCase()]));
    allowed.set(def.path, methods);
  }
  for (const [p, methods] of allowed) {
    const allow = [...new Set(methods)].join(', ');
    app.all(expressPath(p), (req: Request, res: Response) => {
      res.locals.route = p;
      res.setHeader('Allow', allow);
      if (req.method === 'OPTIONS') {
        res.status(204).end();
        return;
      }
      throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${p} (allowed: ${allow})`);
    });
  }

  app.get('/api/openapi.json', (_req, res) => {
    res.locals.route = '/api/openapi.json';
    res.json(openapi);
  });
  app.use('/api/docs', (req: Request, res: Response, next: NextFunction) => {
    res.locals.route = '/api/docs';
    // swagger-ui-express refuses */package.json itself, with a text/plain 404: keep the JSON error shape.
    if (/\/package\.json$/i.test(req.path)) return next(new HttpError(404, 'not_found', `no route ${req.method} ${maskTokens(req.path).slice(0, 200)}`));
    next();
  });
  app.use('/api/docs', swaggerUi.serve, swaggerUi.setup(openapi, { customSiteTitle: 'qbsync API' }));

  mountDashboard(app);

  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(new HttpError(404, 'not_found', `no route ${req.method} ${maskTokens(req.path).slice(0, 200)}`));
  });

  // Errors: JSON always; 4xx say what was wrong, 5xx say nothing about internals (the log has the cause).
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return;
    let e: HttpError;
    if (err instanceof HttpError) e = err;
    // A body found too large while reading (chunked, or compressed): the rest is not read, the connection closes.
    else if ((err as { type?: string }).type === 'entity.too.large') e = new HttpError(413, 'payload_too_large', `the request body is larger than ${BODY_LIMIT}`, undefined, { Connection: 'close' });
    else if ((err as { type?: string }).type === 'entity.parse.failed') e = new HttpError(400, 'invalid_request', 'the request body is not valid JSON', [{ in: 'body', rule: 'json', message: 'is not valid JSON' }]);
    else if ((err as { status?: number }).status && (err as { status: number }).status < 500) {
      const status = (err as { status: number }).status;
      const code = status === 415 ? 'unsupported_media_type' : status === 413 ? 'payload_too_large' : 'invalid_request';
      e = new HttpError(status, code, maskTokens(redactString((err as Error).message ?? 'bad request')));
    } else {
      logger.error('api handler error', { route: res.locals.route, path: maskTokens(req.path), error: maskTokens(redactString((err as Error)?.message ?? String(err))) });
      e = new HttpError(500, 'internal_error', 'internal error (see the server log)');
    }
    if (e.headers) for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
    res.setHeader('Cache-Control', 'no-store');
    res.status(e.status).json({ error: e.code, message: e.message, ...(e.details ? { details: e.details } : {}), ...(e.extra ?? {}) });
  });
  return app;
}
