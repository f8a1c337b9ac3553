// The QBench client over real HTTP against the simulator (sim/): auth, paging, faults,
// rate limiting, quirks, and the updates feed. Backoff is shrunk so faults cost milliseconds.
import { expect } from 'chai';
import { Writable } from 'node:stream';
import winston from 'winston';
import { startSimulator, badTestPageKind, type Simulator, type SimEntity } from '../../sim/index.js';
import {
  QBenchClient,
  QBenchAuthError,
  QBenchHttpError,
  MemoryRateBudget,
  TokenProvider,
  type ClientEvent,
  type PageResult,
  type QBenchClientOptions,
} from '../../ingest/client/index.js';
import { ENTITIES } from '../../ingest/entities.js';

const CLIENT_ID = 'client-sim-test';
const CLIENT_SECRET = 'sim-secret-9d8e7f6a5b4c';
const SEED = 7;

/** Everything the client logged during the suite, to check that no credential ever appears. */
const logLines: string[] = [];
const logger = winston.createLogger({
  level: 'debug',
  format: winston.format.json(),
  transports: [
    new winston.transports.Stream({
      stream: new Writable({
        write(chunk: Buffer, _enc, cb) {
          logLines.push(chunk.toString());
          cb();
        },
      }),
    }),
  ],
});

/** Tokens the simulator issued, seen on the wire, for the no-secrets checks. */
const tokensSeen = new Set<string>();
const recordingFetch: typeof fetch = async (input, init) => {
  const auth = (init?.headers as Record<string, string> | undefined)?.Authorization;
  if (auth) tokensSeen.add(auth.replace(/^Bearer /, ''));
  const res = await fetch(input, init);
  return res;
};

function makeClient(sim: Simulator, extra: Partial<QBenchClientOptions> = {}) {
  const events: ClientEvent[] = [];
  const client = new QBenchClient({
    baseUrl: sim.url,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    backoffBaseMs: 10,
    backoffCapMs: 100,
    logger,
    fetch: recordingFetch,
    onEvent: (e) => events.push(e),
    ...extra,
  });
  const count = (type: ClientEvent['type']) => events.filter((e) => e.type === type).length;
  return { client, events, count };
}

async function collect(it: AsyncIterable<PageResult>): Promise<PageResult[]> {
  const out: PageResult[] = [];
  for await (const p of it) out.push(p);
  return out;
}

function idsOf(pages: PageResult[]): number[] {
  return pages.flatMap((p) => (p.skipped ? [] : p.data.map((x) => (x as { id: number }).id)));
}

/** Largest number of times that fall inside any half-open window [t, t + windowMs). */
function maxInWindow(times: number[], windowMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; j < t.length; j++) {
    while (t[j] - t[i] >= windowMs) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

describe('QBench client against the simulator', function () {
  this.timeout(30_000);
  let sim: Simulator;

  before(async () => {
    sim = await startSimulator({ size: 'tiny', seed: SEED, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, port: 0, rateLimit: { enabled: false } });
  });
  after(async () => {
    await sim?.close();
  });
  beforeEach(() => {
    sim.setFaults({});
    sim.setRateLimit({ enabled: false });
    sim.resetStats();
  });

  it('reuses one token across many (also concurrent) requests', async () => {
    const { client, count } = makeClient(sim);
    await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((n) => client.listPage('samples', { pageNum: n, pageSize: 10 })));
    for (let id = 1; id <= 20; id++) await client.getDetail('sample', id);
    const s = sim.stats();
    expect(s.requests).to.equal(28);
    expect(s.tokenRequests).to.equal(1);
    expect(count('token')).to.equal(1);
    expect(count('request')).to.equal(28);
  });

  it('re-authenticates after the simulator expires every token', async () => {
    const { client, count } = makeClient(sim);
    expect(await client.getDetail('customer', 1)).to.not.equal(null);
    sim.expireTokens();
    const d = await client.getDetail('customer', 2);
    expect(d?.status).to.equal(200);
    expect(d?.attempts).to.equal(2);
    expect(count('reauth')).to.equal(1);
    expect(sim.stats().tokenRequests).to.equal(2);
    expect(sim.stats().byStatus['400']).to.equal(1); // invalid_grant "Access token has expired."
  });

  it('token endpoint: corrects a 2-hour clock skew from the Date header; a wrong secret is a clear error', async () => {
    const events: ClientEvent[] = [];
    const skewed = new TokenProvider({
      baseUrl: sim.url,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      now: () => Date.now() + 2 * 3600_000, // our clock runs 2 h fast: iat is "in the future"
      logger,
      onEvent: (e) => events.push(e),
    });
    const token = await skewed.getToken();
    tokensSeen.add(token);
    expect(token).to.be.a('string').and.not.equal('');
    expect(events.filter((e) => e.type === 'token').map((e) => e.status)).to.deep.equal([400, 200]);

    const wrong = new TokenProvider({ baseUrl: sim.url, clientId: CLIENT_ID, clientSecret: 'not-the-secret-123', logger });
    let err: unknown;
    try {
      await wrong.getToken();
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(QBenchAuthError);
    expect((err as QBenchAuthError).status).to.equal(401);
    expect((err as Error).message).to.include('/qbench/oauth2/v1/token').and.include('invalid_client').and.not.include('not-the-secret-123');
  });

  it('renews a short-lived token before it expires instead of waiting for a rejection', async () => {
    const short = await startSimulator({ size: 'tiny', seed: SEED, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, tokenLifetimeSeconds: 2, rateLimit: { enabled: false } });
    try {
      const { client, count } = makeClient(short);
      const until = Date.now() + 2600;
      while (Date.now() < until) {
        await client.getDetail('order', 1);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(count('reauth')).to.equal(0);
      expect(short.stats().tokenRequests).to.be.within(2, 4);
      expect(short.stats().byStatus['200']).to.equal(short.stats().requests);
    } finally {
      await short.close();
    }
  });

  it('pages through every entity, landing each live id exactly once', async () => {
    const { client } = makeClient(sim);
    for (const e of ENTITIES) {
      const pages = await collect(client.paginate(e.name, { pageSize: 25, ...e.defaultSort, prefetch: 2 }));
      const ids = idsOf(pages);
      expect(pages.every((p) => !p.skipped), e.name).to.equal(true);
      expect(ids, e.name).to.deep.equal(sim.truth.ids(e.v1 as SimEntity));
      expect(pages.map((p) => p.pageNum)).to.deep.equal(pages.map((_, i) => i + 1));
      const first = pages[0];
      if (first.skipped) throw new Error('unreachable');
      expect(Object.keys(first.extraKeys), `${e.name} random envelope key`).to.have.length(1);
      if (e.name === 'batches') expect(first.totalCount).to.equal(null);
      if (e.name === 'tests') expect(first.params.include_raw_worksheet_data).to.equal('true');
    }
    // page_size above 50 is clamped client-side, so the sim never sees it
    const big = await client.listPage('tests', { pageNum: 1, pageSize: 200 });
    expect(big.pageSize).to.equal(50);
    if (!big.skipped) expect(big.data).to.have.length(50);
  });

  it('completes a full scan with 20 % injected 5xx', async () => {
    sim.setFaults({ errorRate: 0.2 });
    const { client, count } = makeClient(sim);
    const ids = idsOf(await collect(client.paginate('tests', { pageSize: 20, sortBy: 'id', sortOrder: 'asc', prefetch: 3 })));
    expect(ids).to.deep.equal(sim.truth.ids('test'));
    const s = sim.stats();
    const fiveXx = (s.byStatus['500'] ?? 0) + (s.byStatus['502'] ?? 0) + (s.byStatus['503'] ?? 0);
    expect(fiveXx).to.be.greaterThan(0);
    expect(count('retry')).to.equal(fiveXx);
  });

  it('retries dropped connections and hung requests (short timeout)', async () => {
    sim.setFaults({ dropRate: 0.15, hangRate: 0.1 });
    const { client, count } = makeClient(sim, { requestTimeoutMs: 300 });
    const ids = idsOf(await collect(client.paginate('samples', { pageSize: 10, sortBy: 'id', sortOrder: 'asc', prefetch: 2 })));
    expect(ids).to.deep.equal(sim.truth.ids('sample'));
    const s = sim.stats();
    expect((s.byStatus.drop ?? 0) + (s.byStatus.hang ?? 0)).to.be.greaterThan(0);
    expect(count('retry')).to.equal((s.byStatus.drop ?? 0) + (s.byStatus.hang ?? 0));
  });

  it('retries 200 responses whose body is not valid JSON', async () => {
    sim.setFaults({ malformedRate: 0.3 });
    const { client, count } = makeClient(sim);
    const ids = idsOf(await collect(client.paginate('orders', { pageSize: 5, sortBy: 'id', sortOrder: 'asc' })));
    expect(ids).to.deep.equal(sim.truth.ids('order'));
    for (let id = 1; id <= 10; id++) expect((await client.getDetail('order', id))?.body).to.have.property('id', id);
    expect(count('retry')).to.be.greaterThan(0);
  });

  it('waits out a 429 storm for the X-QBAPI-Throttle-TTL and then succeeds', async () => {
    const ttls: number[] = [];
    const fetchWithTtl: typeof fetch = async (input, init) => {
      const res = await recordingFetch(input, init);
      if (res.status === 429) ttls.push(Number(res.headers.get('x-qbapi-throttle-ttl')));
      return res;
    };
    sim.setFaults({ rateLimitStorm: true });
    const { client, events } = makeClient(sim, { fetch: fetchWithTtl });
    setTimeout(() => sim.setFaults({}), 1500);
    const t0 = Date.now();
    const d = await client.getDetail('customer', 3);
    expect(d?.body).to.have.property('id', 3);
    const waits = events.filter((e) => e.type === 'rate_limited');
    expect(waits.length).to.be.at.least(1).and.equal(ttls.length);
    waits.forEach((w, i) => expect(w.waitMs).to.be.within(ttls[i] * 1000, ttls[i] * 1000 + 1000));
    expect(Date.now() - t0).to.be.at.least(1000);
    expect(sim.stats().byStatus['429']).to.equal(waits.length);
  });

  it('keeps under the rate limit in every sliding window with its budget (30 per 3 s)', async function () {
    this.timeout(20_000);
    const limited = await startSimulator({
      size: 'tiny',
      seed: SEED,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      rateLimit: { enabled: true, limit: 30, windowSeconds: 3 },
    });
    try {
      // A little under the server's limit, as the default 295/300 is, and the budget's
      // default margin (5 % of the window): requests granted at the same instant can
      // arrive with different latencies (a cold fetch took ~100 ms here).
      const { client, count } = makeClient(limited, { rateBudget: new MemoryRateBudget({ limit: 28, windowMs: 3000 }), maxConcurrency: 8 });
      const ids = limited.truth.ids('test').slice(0, 60);
      const results = await Promise.all(ids.map((id) => client.getDetail('test', id)));
      expect(results.every((r) => r?.status === 200)).to.equal(true);
      const s = limited.stats();
      expect(s.byStatus['429'] ?? 0).to.equal(0);
      expect(count('rate_limited')).to.equal(0);
      expect(s.requests).to.equal(60);
      expect(maxInWindow(s.requestTimes, 3000)).to.be.at.most(30);
      // and the budget did make it wait: 60 requests at 28 per 3 s span two window turnovers
      const span = Math.max(...s.requestTimes) - Math.min(...s.requestTimes);
      expect(span).to.be.at.least(5900);
    } finally {
      await limited.close();
    }
  });

  it('bad test pages: retried with the typo spelling, else skipped with the reason', async () => {
    const rate = 0.5;
    sim.setFaults({ badTestPageRate: rate });
    const { client } = makeClient(sim);
    const pages = await collect(client.paginate('tests', { pageSize: 20, sortBy: 'id', sortOrder: 'asc', prefetch: 2 }));
    const totalPages = Math.ceil(sim.truth.count('test') / 20);
    expect(pages.map((p) => p.pageNum)).to.deep.equal(Array.from({ length: totalPages }, (_, i) => i + 1));
    const kinds = pages.map((p) => badTestPageKind(SEED, p.pageNum, rate));
    expect(kinds.filter((k) => k === 'soft').length, 'this seed has soft bad pages').to.be.greaterThan(0);
    expect(kinds.filter((k) => k === 'hard').length, 'this seed has hard bad pages').to.be.greaterThan(0);
    pages.forEach((p, i) => {
      const kind = kinds[i];
      expect(p.skipped, `page ${p.pageNum} (${kind})`).to.equal(kind === 'hard');
      if (kind === 'soft') {
        expect(p.params).to.have.property('include_raw_worsksheet_data', 'true');
        expect(p.attempts).to.equal(2);
      }
      if (kind === null) expect(p.params).to.have.property('include_raw_worksheet_data', 'true');
      if (p.skipped) {
        expect(p.reason).to.include('400').and.include('could not be serialized');
        expect(p.attempts).to.equal(2);
      }
    });
    // every id not on a skipped page was landed, exactly once
    const skippedPages = new Set(pages.filter((p) => p.skipped).map((p) => p.pageNum));
    const expected = sim.truth.ids('test').filter((_, idx) => !skippedPages.has(Math.floor(idx / 20) + 1));
    expect(idsOf(pages)).to.deep.equal(expected);
  });

  it('fails fast on a 4xx with an error naming the request, without token or secret; 404 detail is null', async () => {
    const { client } = makeClient(sim);
    expect(await client.getDetail('customer', 999_999)).to.equal(null);
    let err: unknown;
    try {
      await client.listPage('orders', { pageNum: 2, pageSize: 10, sortBy: 'no_such_field' });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(QBenchHttpError);
    const e = err as QBenchHttpError;
    expect(e.status).to.equal(400);
    expect(e.attempts).to.equal(1);
    expect(e.message).to.include('GET /qbench/api/v1/order?page_num=2&page_size=10&sort_by=no_such_field');
    expect(e.message).to.include('HTTP 400').and.include("Invalid sort_by 'no_such_field'");
    expect(tokensSeen.size).to.be.greaterThan(0);
    for (const t of tokensSeen) expect(e.message).to.not.include(t);
    expect(e.message).to.not.include(CLIENT_SECRET);
    expect(JSON.stringify(e)).to.not.include(CLIENT_SECRET);
    expect(sim.stats().requests).to.equal(2);
  });

  it('reads the updates feed (ids or objects) and refuses batches', async () => {
    const { client } = makeClient(sim);
    const since = Math.floor(sim.now().getTime() / 1000);
    const before = new Set(sim.truth.ids('test', { includeDeleted: true }));
    const quiet = await client.getUpdates('tests', since);
    expect(quiet.updated).to.deep.equal([]);
    expect(quiet.path).to.equal(`/qbench/api/v1/updates/test/${since}`);
    const adv = sim.advance(48);
    expect(adv.created + adv.updated).to.be.greaterThan(0);

    const u = await client.getUpdates('tests', since);
    const live = new Set(sim.truth.ids('test'));
    expect(u.updated.length).to.be.greaterThan(0);
    for (const id of u.updated) expect(live.has(id as number), `updated ${String(id)} is live`).to.equal(true);
    for (const id of sim.truth.ids('test')) if (!before.has(id)) expect(u.updated, `new test ${id}`).to.include(id);
    const deletedNow = new Set(sim.truth.deletedIds('test'));
    for (const id of u.deleted) expect(deletedNow.has(id)).to.equal(true);

    const objs = await client.getUpdates('test', since, { returnObjects: true });
    expect(objs.params).to.deep.equal({ return_objects: 'true', include_raw_worksheet_data: 'true' });
    expect(objs.updated.map((o) => (o as { id: number }).id)).to.deep.equal(u.updated);
    expect(objs.updated[0]).to.have.property('worksheet_data');
    expect(objs.deleted).to.deep.equal(u.deleted);

    let err: unknown;
    try {
      await client.getUpdates('batches', since);
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).to.match(/no Updates feed for batches/);
  });

  it('never logged a token or the client secret', () => {
    expect(logLines.length).to.be.greaterThan(0);
    const all = logLines.join('\n');
    expect(all).to.not.include(CLIENT_SECRET);
    for (const t of tokensSeen) expect(all).to.not.include(t);
  });
});
