// The HTTP face of the simulator, on Node's http module (no framework: it must stay fast under benchmarks).
// Request pipeline for /qbench/api/...: count -> latency -> bearer auth -> rate limit / storm -> transport
// faults (drop, hang) -> injected 5xx -> handler -> (maybe) malformed body. Token and admin requests skip the
// faults and the rate limit (see sim/README.md).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TokenService } from './auth.js';
import { render, type Json } from './entities.js';
import { Faults, serverErrorBody } from './faults.js';
import { ApiError, listPage, parseListQuery, UPDATE_FEEDS, updatesSince, type UpdateFeed } from './lists.js';
import { mix32, Rng } from './prng.js';
import { RateLimiter } from './rate-limit.js';
import type { StatsRecorder } from './stats.js';
import type { Store } from './store.js';
import { SIM_ENTITIES, type FaultOptions, type RateLimitOptions, type SimEntity } from './types.js';

export interface AdminActions {
  advance(hours: number): Record<string, unknown>;
  setFaults(f: FaultOptions): void;
  faults(): FaultOptions;
  setRateLimit(r: RateLimitOptions): void;
  rateLimit(): RateLimitOptions;
  stats(): unknown;
  resetStats(): void;
  expireTokens(): number;
  now(): Date;
  info(): Record<string, unknown>;
}

export interface ServerDeps {
  store: Store;
  tokens: TokenService;
  limiter: RateLimiter;
  faults: Faults;
  stats: StatsRecorder;
  admin: AdminActions;
  missingFieldRate: number;
  log?: (line: string) => void;
}

const API_PREFIX = '/qbench/api/v1/';
const TOKEN_PATHS = new Set(['/qbench/oauth2/v1/token', '/oauth/token']);
const MAX_BODY = 1 << 20;
const TRUE = /^(true|1)$/i;

export interface SimServer {
  server: Server;
  /** Stops listening and drops every connection, including hung requests. */
  shutdown(): Promise<void>;
}

export function buildServer(deps: ServerDeps): SimServer {
  const held = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  // Random extra envelope key: its own PRNG so it never shifts data or fault decisions.
  const keyRng = new Rng(mix32(deps.store.seed, 0x9b));
  let closing = false;

  const delay = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const extraKey = (): [string, string] => [`qb${keyRng.hex(keyRng.int(1, 4))}`, keyRng.hex(keyRng.int(7, 12))];

  const server = createServer((req, res) => {
    const started = Date.now();
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        sendJson(res, 500, { error: 'server_error', error_description: err instanceof Error ? err.message : String(err) });
      }
    });
    res.on('finish', () => deps.log?.(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - started}ms`));
  });
  server.keepAliveTimeout = 5000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim.local');
    const path = url.pathname;
    if (path.startsWith('/_sim/')) return handleAdmin(req, res, path);
    if (TOKEN_PATHS.has(path)) return handleToken(req, res);
    if (path.startsWith('/qbench/api/')) return handleApi(req, res, url);
    sendJson(res, 404, { error: 'not_found', error_description: `No route for ${req.method} ${path}` });
  }

  // ------------------------------------------------------------------------------------------------ token

  async function handleToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    deps.stats.tokenRequest();
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request', error_description: 'Use POST' });
    const body = await readBody(req);
    const reply = deps.tokens.issue(body, req.headers['content-type']);
    sendJson(res, reply.status, reply.body);
  }

  // ------------------------------------------------------------------------------------------------ API

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    // The Date header is the simulated clock: it is the clock the Updates feed compares with, and the
    // one a client must keep its watermark in (as with real QBench, whose data and Date share a clock).
    res.setHeader('Date', deps.admin.now().toUTCString());
    deps.stats.apiRequest(`${req.method} ${pathTemplate(path)}`, Date.now());
    res.on('finish', () => deps.stats.outcome(res.statusCode));

    if (deps.faults.latencyMs > 0) await delay(deps.faults.latencyMs);
    if (closing) return;

    const auth = deps.tokens.authenticate(req.headers.authorization);
    if ('status' in auth) return sendJson(res, auth.status, auth.body);

    if (deps.faults.storm) {
      const ttl = deps.faults.stormTtl();
      const s = deps.limiter.settings();
      return send429(res, ttl, RateLimiter.message({ allowed: false, ttl, count: s.limit + 1, limit: s.limit, windowSeconds: s.windowSeconds }));
    }
    const decision = deps.limiter.check(auth.clientId);
    if (!decision.allowed) return send429(res, decision.ttl, RateLimiter.message(decision));

    const transport = deps.faults.transport();
    if (transport === 'drop') {
      deps.stats.outcome('drop');
      req.socket.destroy();
      return;
    }
    if (transport === 'hang') {
      // Never answer: hold the socket until the client gives up or the simulator closes.
      deps.stats.outcome('hang');
      held.add(req.socket);
      req.socket.once('close', () => held.delete(req.socket));
      return;
    }
    const failure = deps.faults.serverError();
    if (failure) {
      const { contentType, body } = serverErrorBody(failure);
      return sendRaw(res, failure, contentType, body);
    }
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'invalid_request', error_description: 'Only GET is simulated' });

    try {
      await route(res, url);
    } catch (err) {
      if (err instanceof ApiError) return sendJson(res, err.status, { error: err.error, error_description: err.description });
      throw err;
    }
  }

  async function route(res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    if (!path.startsWith(API_PREFIX)) throw new ApiError(404, 'not_found', `Unknown API path ${path}`);
    const parts = path.slice(API_PREFIX.length).split('/').filter((p) => p !== '');
    const params = url.searchParams;
    if (parts[0] === 'updates') return updates(res, parts, params);
    const entity = parts[0] as SimEntity;
    if (!SIM_ENTITIES.includes(entity) || parts.length > 2) throw new ApiError(404, 'not_found', `Unknown API path ${path}`);
    const worksheet = TRUE.test(params.get('include_raw_worksheet_data') ?? '') || TRUE.test(params.get('include_raw_worsksheet_data') ?? '');
    const store = deps.store;

    if (parts.length === 2) {
      const id = /^\d+$/.test(parts[1]) ? Number(parts[1]) : NaN;
      if (!store.exists(entity, id) || store.isDeleted(entity, id)) {
        throw new ApiError(404, 'not_found', `${entity} ${parts[1]} not found`);
      }
      const obj = render(store, entity, id, { worksheet, embed: true });
      return sendOk(res, withExtraKey(obj));
    }

    const q = parseListQuery(entity, params);
    const page = listPage(store, entity, q);
    if (entity === 'test' && q.pageNum <= page.totalPages) {
      const bad = deps.faults.badTestPage(q.pageNum);
      const correctSpelling = TRUE.test(params.get('include_raw_worksheet_data') ?? '');
      if (bad === 'hard' || (bad === 'soft' && correctSpelling)) {
        throw new ApiError(400, 'invalid_request', `Bad Request: test list page ${q.pageNum} could not be serialized`);
      }
    }
    const items = page.ids.map((id) => render(store, entity, id, { worksheet, missingFieldRate: entity === 'test' ? deps.missingFieldRate : 0 }));
    const [k, v] = extraKey();
    // total_count is null on batch lists, as the real API sends it.
    const total = entity === 'batch' ? 'null' : String(page.totalCount);
    const body = `{"total_count":${total},"total_pages":${page.totalPages},"data":${JSON.stringify(items)},"${k}":"${v}"}`;
    sendOk(res, body);
  }

  async function updates(res: ServerResponse, parts: string[], params: URLSearchParams): Promise<void> {
    const feed = parts[1];
    if (parts.length !== 3 || !UPDATE_FEEDS.includes(feed as UpdateFeed)) {
      throw new ApiError(404, 'not_found', `No updates endpoint for '${feed ?? ''}'`);
    }
    if (!/^\d+$/.test(parts[2])) throw new ApiError(400, 'invalid_request', 'The timestamp must be unix seconds');
    const since = Number(parts[2]);
    const { updated, deleted } = updatesSince(deps.store, feed as UpdateFeed, since);
    const [k, v] = extraKey();
    const head = `{"deleted":${JSON.stringify(deleted)},"updated":`;
    if (!TRUE.test(params.get('return_objects') ?? '') || feed === 'contact') {
      return sendRaw(res, 200, 'application/json', `${head}${JSON.stringify(updated)},"${k}":"${v}"}`);
    }
    const worksheet = TRUE.test(params.get('include_raw_worksheet_data') ?? '') || TRUE.test(params.get('include_raw_worsksheet_data') ?? '');
    const entity = feed as SimEntity;
    // Objects are streamed in chunks with back-pressure so "everything since 0" on a large lab does not build
    // one giant string. The objects are list items (no embedded children, no missing fields).
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(`${head}[`);
    const CHUNK = 500;
    for (let i = 0; i < updated.length; i += CHUNK) {
      const slice = updated.slice(i, i + CHUNK).map((id) => JSON.stringify(render(deps.store, entity, id, { worksheet })));
      const ok = res.write((i ? ',' : '') + slice.join(','));
      if (!ok) await new Promise<void>((resolve) => res.once('drain', resolve));
      if (res.destroyed) return;
    }
    res.end(`],"${k}":"${v}"}`);
  }

  function withExtraKey(obj: Json): string {
    const [k, v] = extraKey();
    return JSON.stringify({ ...obj, [k]: v });
  }

  function sendOk(res: ServerResponse, body: string): void {
    sendRaw(res, 200, 'application/json', deps.faults.malformed() ? deps.faults.corrupt(body) : body);
  }

  // ------------------------------------------------------------------------------------------------ admin

  async function handleAdmin(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const remote = req.socket.remoteAddress ?? '';
    if (!(remote === '127.0.0.1' || remote === '::1' || remote === '::ffff:127.0.0.1')) {
      return sendJson(res, 403, { error: 'forbidden', error_description: 'Admin endpoints answer loopback clients only' });
    }
    const route = `${req.method} ${path}`;
    const a = deps.admin;
    try {
      switch (route) {
        case 'POST /_sim/advance': {
          const body = await readJson(req);
          const hours = Number(body.hours);
          if (!Number.isFinite(hours) || hours < 0) return sendJson(res, 400, { error: 'invalid_request', error_description: 'hours must be a number >= 0' });
          return sendJson(res, 200, a.advance(hours));
        }
        case 'PUT /_sim/faults':
          a.setFaults((await readJson(req)) as FaultOptions);
          return sendJson(res, 200, a.faults() as Record<string, unknown>);
        case 'GET /_sim/faults':
          return sendJson(res, 200, a.faults() as Record<string, unknown>);
        case 'PUT /_sim/rate-limit': {
          const body = await readJson(req);
          a.setRateLimit({ ...(body as object), enabled: body.enabled !== false } as RateLimitOptions);
          return sendJson(res, 200, { ...a.rateLimit() });
        }
        case 'GET /_sim/rate-limit':
          return sendJson(res, 200, { ...a.rateLimit() });
        case 'GET /_sim/stats':
          return sendJson(res, 200, a.stats() as Record<string, unknown>);
        case 'POST /_sim/reset-stats':
          a.resetStats();
          return sendJson(res, 200, { ok: true });
        case 'POST /_sim/expire-tokens':
          return sendJson(res, 200, { expired: a.expireTokens() });
        case 'GET /_sim/now': {
          const now = a.now();
          return sendJson(res, 200, { now: now.toISOString(), unix: Math.floor(now.getTime() / 1000) });
        }
        case 'GET /_sim/info':
          return sendJson(res, 200, a.info());
        default:
          return sendJson(res, 404, { error: 'not_found', error_description: `No admin route ${route}` });
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return sendJson(res, 400, { error: 'invalid_request', error_description: message });
    }
  }

  return {
    server,
    shutdown: () =>
      new Promise<void>((resolve) => {
        closing = true;
        for (const t of timers) clearTimeout(t);
        timers.clear();
        for (const s of held) s.destroy();
        held.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Collapses ids and timestamps so stats group requests by endpoint. */
export function pathTemplate(path: string): string {
  if (path.startsWith(`${API_PREFIX}updates/`)) return path.replace(/\/\d+$/, '/:ts');
  return path.replace(/\/\d+$/, '/:id');
}

function sendRaw(res: ServerResponse, status: number, contentType: string, body: string): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  sendRaw(res, status, 'application/json', JSON.stringify(body));
}

function send429(res: ServerResponse, ttl: number, message: string): void {
  if (res.destroyed) return;
  const body = JSON.stringify({ error: 'rate_limited', error_description: message });
  res.writeHead(429, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'X-QBAPI-Throttle-TTL': String(ttl) });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('Request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBody(req);
  if (raw.trim() === '') return {};
  const value: unknown = JSON.parse(raw);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('Body must be a JSON object');
  return value as Record<string, unknown>;
}
