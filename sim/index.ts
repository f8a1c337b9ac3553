// Public surface of the QBench API simulator. Everything else in sim/ is internal; other rooms import from here.

import type { AddressInfo } from 'node:net';
import { TokenService } from './auth.js';
import { DEFAULT_NOW } from './clock.js';
import { render } from './entities.js';
import { Faults } from './faults.js';
import { liveIds } from './lists.js';
import { RateLimiter } from './rate-limit.js';
import { buildServer } from './server.js';
import { StatsRecorder } from './stats.js';
import { Store } from './store.js';
import { SIM_SIZES, type SimEntity, type SimOptions, type Simulator } from './types.js';

export type {
  AdvanceResult,
  FaultOptions,
  RateLimitOptions,
  SimEntity,
  SimOptions,
  SimSize,
  SimStats,
  SimTruth,
  Simulator,
} from './types.js';
export { SIM_ENTITIES, SIM_SIZES } from './types.js';
export { badTestPageKind, HARD_BAD_PAGE_SHARE } from './faults.js';
export { signAssertion } from './jwt.js';
export { parseQbDate, qbDate, qbDateTime } from './formats.js';
export { MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE, sortFields } from './lists.js';

export async function startSimulator(opts: SimOptions): Promise<Simulator> {
  if (!SIM_SIZES.includes(opts.size)) throw new RangeError(`Unknown simulator size '${String(opts.size)}'`);
  if (!Number.isSafeInteger(opts.seed)) throw new RangeError(`seed must be an integer, got ${opts.seed}`);
  if (!opts.clientId || !opts.clientSecret) throw new RangeError('clientId and clientSecret are required');
  const lifetime = opts.tokenLifetimeSeconds ?? 3600;
  const missingFieldRate = opts.missingFieldRate ?? 0.05;
  const nowDate = opts.now ?? DEFAULT_NOW;

  const store = new Store(opts.size, opts.seed, Math.floor(nowDate.getTime() / 1000));
  const tokens = new TokenService(opts.clientId, opts.clientSecret, lifetime);
  const limiter = new RateLimiter({ enabled: true, ...(opts.rateLimit ?? {}) });
  const faults = new Faults(opts.seed, opts.faults ?? {});
  const stats = new StatsRecorder();

  const truth: Simulator['truth'] = {
    ids(entity, o) {
      if (o?.includeDeleted) return Array.from({ length: store.count(entity) }, (_, i) => i + 1);
      return Array.from(liveIds(store, entity));
    },
    get(entity, id, o) {
      if (!store.exists(entity, id)) return undefined;
      if (store.isDeleted(entity, id) && !o?.includeDeleted) return undefined;
      return render(store, entity, id, { worksheet: true, embed: true });
    },
    count(entity, o) {
      return o?.includeDeleted ? store.count(entity) : liveIds(store, entity).length;
    },
    deletedIds(entity: SimEntity) {
      const all = store.count(entity);
      const out: number[] = [];
      if (!store.deletedColumn(entity)) return out;
      for (let id = 1; id <= all; id++) if (store.isDeleted(entity, id)) out.push(id);
      return out;
    },
  };

  const advance = (hours: number) => store.advance(hours);
  const now = () => new Date(store.now * 1000);

  const { server, shutdown } = buildServer({
    store,
    tokens,
    limiter,
    faults,
    stats,
    missingFieldRate,
    log: opts.log,
    admin: {
      advance: (hours) => ({ ...advance(hours), now: now().toISOString() }),
      setFaults: (f) => faults.set(f),
      faults: () => faults.get(),
      setRateLimit: (r) => limiter.configure(r),
      rateLimit: () => limiter.settings(),
      stats: () => stats.snapshot(),
      resetStats: () => stats.reset(),
      expireTokens: () => tokens.expireAll(),
      now,
      info: () => ({
        size: opts.size,
        seed: opts.seed,
        now: now().toISOString(),
        counts: Object.fromEntries((['customer', 'order', 'sample', 'test', 'batch', 'assay', 'report'] as const).map((e) => [e, truth.count(e)])),
      }),
    },
  });

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;

  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: () => (closed ??= shutdown()),
    setFaults: (f) => faults.set(f),
    setRateLimit: (r) => limiter.configure(r),
    advance,
    now,
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    expireTokens: () => void tokens.expireAll(),
    truth,
  };
}
