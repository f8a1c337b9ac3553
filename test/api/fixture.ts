/**
 * API test fixture: a fresh test database, data landed from the simulator by a real sync and transformed by
 * runTransforms, an API server on an ephemeral port, a captured logger, and tokens (admin + read-only).
 */
import { PassThrough } from 'node:stream';
import { createLogger, loadConfig, type Config } from '../../core/index.js';
import { makeClient, runSync, MemoryRateBudget, type EntityName } from '../../ingest/index.js';
import { runTransforms } from '../../transform/index.js';
import { startApiServer, createApiToken, type ApiServer, type Enqueuer } from '../../api/index.js';
import type { Simulator, SimSize } from '../../sim/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { testSimulator, TEST_CLIENT_ID, TEST_CLIENT_SECRET } from '../helpers/sim.js';

export const ALL: EntityName[] = ['customers', 'orders', 'samples', 'batches', 'tests', 'assays', 'reports'];

export interface ApiFixture {
  db: TestDatabase;
  sim?: Simulator;
  server: ApiServer;
  config: Config;
  lines: string[];
  adminToken: string;
  readToken: string;
  get(path: string, token?: string | null, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers; text: string }>;
  post(path: string, body: unknown, token?: string | null, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers; text: string }>;
  close(): Promise<void>;
}

/**
 * The smallest valid request for a documented path: ids filled in (a run id where a UUID is needed) and, for the
 * operation that answers 400 without one of two parameters (not expressible as one required parameter), that one.
 */
export function minimalUrl(path: string): string {
  const REQUIRED_QUERY: Record<string, string> = { '/api/v1/analytics/customers/orders/summary': '?customer_id=1' };
  return path.replace('{kind}', 'tests').replace('{id}', path.includes('/sync/runs/') ? '00000000-0000-0000-0000-000000000000' : '1') + (REQUIRED_QUERY[path] ?? '');
}

export function testConfig(extra: Record<string, string> = {}): Config {
  return loadConfig({ QBENCH_CLIENT_ID: TEST_CLIENT_ID, QBENCH_CLIENT_SECRET: TEST_CLIENT_SECRET, QBENCH_BASE_URL: 'http://127.0.0.1:1', ...extra });
}

export async function landAndTransform(db: TestDatabase, sim: Simulator, config: Config, mode: 'full' | 'incremental' = 'full') {
  const logger = createLogger({ level: 'silent', console: false });
  await runSync(
    {
      db,
      logger,
      makeClient: (onEvent) =>
        makeClient(config, { baseUrl: sim.url, logger, onEvent, rateBudget: new MemoryRateBudget({ limit: 1e6, windowMs: 1000 }) }),
    },
    { mode, entities: ALL },
  );
  await runTransforms(db, { timezone: config.timezone, logger });
}

export async function apiFixture(opts: { size?: SimSize; seed?: number; data?: boolean; config?: Record<string, string>; enqueue?: Enqueuer } = {}): Promise<ApiFixture> {
  const db = await createTestDatabase();
  const config = testConfig(opts.config);
  let sim: Simulator | undefined;
  if (opts.data !== false) {
    sim = await testSimulator({ size: opts.size ?? 'small', seed: opts.seed ?? 7 });
    await landAndTransform(db, sim, config);
  }
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (c) => lines.push(String(c)));
  const logger = createLogger({ level: 'debug', console: false, stream });
  const server = await startApiServer({ db, config, logger, enqueue: opts.enqueue }, { host: '127.0.0.1', port: 0 });
  const adminToken = (await createApiToken(db.pool, { name: 'test-admin', admin: true })).token;
  const readToken = (await createApiToken(db.pool, { name: 'test-read' })).token;
  const call = async (method: string, path: string, body: unknown, token: string | null | undefined, headers: Record<string, string> = {}) => {
    const h: Record<string, string> = { ...headers };
    const t = token === undefined ? readToken : token;
    if (t) h.authorization = `Bearer ${t}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(server.url + path, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed as any, headers: res.headers, text };
  };
  return {
    db, sim, server, config, lines, adminToken, readToken,
    get: (path, token, headers) => call('GET', path, undefined, token, headers),
    post: (path, body, token, headers) => call('POST', path, body, token, headers),
    async close() {
      await server.stop(1000);
      await sim?.close();
      await db.drop();
    },
  };
}
