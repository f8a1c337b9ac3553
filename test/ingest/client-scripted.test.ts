// QBench client behaviour against a scripted fetch: each test says exactly what "QBench"
// answers, so the edge cases (skew, re-auth limits, typo retry, envelope quirks) are exact.
import { expect } from 'chai';
import { QBenchClient, QBenchAuthError, QBenchHttpError, QBenchTransientError, type ClientEvent } from '../../ingest/client/index.js';
import { decodeJwt } from '../../ingest/client/jwt.js';
import { TokenProvider } from '../../ingest/client/token-provider.js';

const SECRET = 'client-secret-never-logged';
type Handler = (url: URL, init: RequestInit) => Response | Promise<Response>;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/** A fake QBench: token endpoint issues tok-1, tok-2, …; API calls go to `api`. */
function fakeQBench(api: Handler, token?: Handler) {
  const calls: Array<{ url: URL; auth?: string }> = [];
  const tokenCalls: URLSearchParams[] = [];
  let issued = 0;
  const fetchImpl = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input));
    if (url.pathname === '/qbench/oauth2/v1/token') {
      tokenCalls.push(new URLSearchParams(String(init.body)));
      if (token) return token(url, init);
      issued++;
      return json(200, { access_token: `tok-${issued}`, token_type: 'Bearer', expires_in: 3600 });
    }
    const auth = (init.headers as Record<string, string>).Authorization;
    calls.push({ url, auth });
    return api(url, init);
  }) as typeof fetch;
  return { fetchImpl, calls, tokenCalls };
}

function client(fetchImpl: typeof fetch, extra: Partial<ConstructorParameters<typeof QBenchClient>[0]> = {}) {
  return new QBenchClient({
    baseUrl: 'http://qbench.test',
    clientId: 'cid',
    clientSecret: SECRET,
    fetch: fetchImpl,
    backoffBaseMs: 1,
    backoffCapMs: 5,
    ...extra,
  });
}

const page = (data: unknown[], totalPages: number, extra: Record<string, unknown> = {}) => ({
  total_count: null,
  total_pages: totalPages,
  data,
  ...extra,
});

describe('QBench client (scripted fetch)', () => {
  it('sends bearer + accept headers, one token for many concurrent requests, and the contract params', async () => {
    const f = fakeQBench((url) => json(200, page([{ id: Number(url.searchParams.get('page_num')) }], 9, { qba: '491aef8' })));
    const c = client(f.fetchImpl);
    const pages = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => c.listPage('tests', { pageNum: n, pageSize: 20, sortBy: 'id', sortOrder: 'ASC' })));
    expect(f.tokenCalls).to.have.length(1);
    expect(f.tokenCalls[0].get('grant_type')).to.equal('urn:ietf:params:oauth:grant-type:jwt-bearer');
    expect(decodeJwt(f.tokenCalls[0].get('assertion')!).claims).to.have.keys('sub', 'iat', 'exp');
    expect(f.calls.every((c) => c.auth === 'Bearer tok-1')).to.equal(true);
    const p = pages[1];
    if (p.skipped) throw new Error('unexpected skip');
    expect(p.params).to.deep.equal({ page_num: '2', page_size: '20', sort_by: 'id', sort_order: 'asc', include_raw_worksheet_data: 'true' });
    expect(p.path).to.equal('/qbench/api/v1/test');
    expect(p.extraKeys).to.deep.equal({ qba: '491aef8' });
    expect(p.totalCount).to.equal(null);
    expect(p.totalPages).to.equal(9);
    expect(p.body).to.deep.equal(page([{ id: 2 }], 9, { qba: '491aef8' }));
    expect(p.attempts).to.equal(1);
    expect(p.fetchedAt).to.be.instanceOf(Date);
  });

  it('clamps page sizes above 50 (with a debug log) and rejects invalid ones', async () => {
    const f = fakeQBench(() => json(200, page([], 0)));
    const logs: string[] = [];
    const logger = { debug: (m: string) => logs.push(m), info() {}, warn() {} } as never;
    const c = client(f.fetchImpl, { logger });
    const p = await c.listPage('customers', { pageNum: 1, pageSize: 500 });
    expect(p.params.page_size).to.equal('50');
    expect(logs.join('\n')).to.match(/page_size 500.*50/);
    for (const bad of [0, -1, 2.5]) {
      let err: unknown;
      try {
        await c.listPage('customers', { pageNum: 1, pageSize: bad });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(RangeError);
    }
    const filtered = await c.listPage('orders', { pageNum: 1, filters: { customer_ids: [1, 2], state: 'REPORTED', skip: null } });
    expect(filtered.params.customer_ids).to.deep.equal(['1', '2']);
    expect(f.calls.at(-1)!.url.search).to.include('customer_ids=1&customer_ids=2');
  });

  it('re-authenticates on 401, invalid_grant and "Invalid Authorization header format", at most maxReauth times', async () => {
    const answers = [
      json(401, { error: 'unauthorized' }),
      json(400, { error: 'invalid_grant', error_description: 'Access token has expired.' }),
      json(400, { error: 'invalid_request', error_description: 'Invalid Authorization header format' }),
      json(200, { id: 7, name: 'x' }),
    ];
    const events: ClientEvent[] = [];
    const f = fakeQBench(() => answers.shift()!);
    const c = client(f.fetchImpl, { onEvent: (e) => events.push(e) });
    const d = await c.getDetail('customer', 7);
    expect(d?.body).to.deep.equal({ id: 7, name: 'x' });
    expect(d?.attempts).to.equal(4);
    expect(f.tokenCalls).to.have.length(4);
    expect(f.calls.map((x) => x.auth)).to.deep.equal(['Bearer tok-1', 'Bearer tok-2', 'Bearer tok-3', 'Bearer tok-4']);
    expect(events.filter((e) => e.type === 'reauth')).to.have.length(3);

    const always = fakeQBench(() => json(401, { error: 'unauthorized', error_description: 'nope' }));
    const c2 = client(always.fetchImpl, { maxReauth: 2 });
    let err: unknown;
    try {
      await c2.getDetail('customer', 7);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(QBenchAuthError);
    expect((err as Error).message).to.match(/GET \/qbench\/api\/v1\/customer\/7 .*after 2 re-authentications/);
    expect(always.calls).to.have.length(3);
  });

  it('re-signs once with the server clock when the token endpoint 400s and Date shows > 10 s skew', async () => {
    const serverNow = Date.now() + 3_600_000; // server one hour ahead
    const f = fakeQBench(
      () => json(200, { id: 1 }),
      (_url, init) => {
        const { claims } = decodeJwt(new URLSearchParams(String(init.body)).get('assertion')!);
        const ok = Math.abs((claims.iat as number) - serverNow / 1000) < 30;
        return ok
          ? json(200, { access_token: 'skewed-ok', token_type: 'Bearer', expires_in: 3600 })
          : json(400, { error: 'invalid_grant', error_description: 'iat is in the past' }, { date: new Date(serverNow).toUTCString() });
      },
    );
    const d = await client(f.fetchImpl).getDetail('order', 1);
    expect(d?.status).to.equal(200);
    expect(f.tokenCalls).to.have.length(2);
    expect(f.calls[0].auth).to.equal('Bearer skewed-ok');
  });

  it('token endpoint refusal without skew is a clear auth error without secrets', async () => {
    const f = fakeQBench(
      () => json(200, {}),
      () => json(400, { error: 'invalid_client', error_description: 'bad signature' }, { date: new Date().toUTCString() }),
    );
    let err: unknown;
    try {
      await client(f.fetchImpl).getDetail('order', 1);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(QBenchAuthError);
    expect((err as Error).message).to.include('HTTP 400').and.include('bad signature').and.not.include(SECRET);
    expect(f.tokenCalls).to.have.length(1);
  });

  it('fails fast on other 4xx naming the request and QBench error, never the token or secret; 404 detail is null', async () => {
    const f = fakeQBench((url) =>
      url.pathname.endsWith('/999') ? json(404, { error: 'not_found' }) : json(422, { error_type: 'validation', error_description: 'bad sort field tok-1' }),
    );
    const c = client(f.fetchImpl);
    expect(await c.getDetail('samples', 999)).to.equal(null);
    let err: unknown;
    try {
      await c.listPage('samples', { pageNum: 3, sortBy: 'nope' });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(QBenchHttpError);
    const e = err as QBenchHttpError;
    expect(e.status).to.equal(422);
    expect(e.message).to.include('GET /qbench/api/v1/sample?page_num=3&page_size=50&sort_by=nope').and.include('HTTP 422').and.include('bad sort field');
    expect(e.message).to.not.include('tok-1').and.not.include(SECRET);
    expect(f.calls).to.have.length(2);
  });

  it('test list 400: retries once with the typo spelling, then returns a skipped page with the reason', async () => {
    const f = fakeQBench((url) => {
      if (url.searchParams.get('page_num') === '2' && url.searchParams.has('include_raw_worsksheet_data')) return json(200, page([{ id: 2 }], 3));
      if (url.searchParams.get('page_num') === '1') return json(200, page([{ id: 1 }], 3));
      return json(400, { error: 'bad_request', error_description: 'Worksheet failure' });
    });
    const c = client(f.fetchImpl);
    const all = [];
    for await (const p of c.paginate('tests')) all.push(p);
    expect(all.map((p) => p.skipped)).to.deep.equal([false, false, true]);
    const p2 = all[1];
    expect(p2.params).to.have.property('include_raw_worsksheet_data', 'true');
    expect(p2.params).to.not.have.property('include_raw_worksheet_data');
    expect(p2.attempts).to.equal(2);
    const p3 = all[2];
    if (!p3.skipped) throw new Error('expected skip');
    expect(p3.reason).to.include('400').and.include('Worksheet failure');
    expect(p3.pageNum).to.equal(3);

    // only test list pages get that treatment
    const b = fakeQBench(() => json(400, { error: 'bad_request', error_description: 'nope' }));
    let err: unknown;
    try {
      await client(b.fetchImpl).listPage('batches', { pageNum: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(QBenchHttpError);
    expect(b.calls).to.have.length(1);
  });

  it('retries 5xx, malformed bodies and bad envelopes with backoff, and gives up after maxAttempts tries', async () => {
    const answers = [
      json(503, { error: 'unavailable' }),
      new Response('{"total_pages": 1, "data": [', { status: 200 }),
      json(200, { data: 'nope' }),
      json(200, page([{ id: 1 }], 1)),
    ];
    const events: ClientEvent[] = [];
    const f = fakeQBench(() => answers.shift()!);
    const p = await client(f.fetchImpl, { onEvent: (e) => events.push(e) }).listPage('customers', { pageNum: 1 });
    expect(p.attempts).to.equal(4);
    expect(events.filter((e) => e.type === 'retry')).to.have.length(3);
    expect(events.filter((e) => e.type === 'request')).to.have.length(4);

    const broken = fakeQBench(() => json(500, { error: 'boom' }));
    let err: unknown;
    try {
      await client(broken.fetchImpl, { maxAttempts: 3 }).listPage('customers', { pageNum: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(QBenchHttpError);
    expect((err as QBenchHttpError).status).to.equal(500);
    expect(broken.calls).to.have.length(3);

    const dropped = fakeQBench(() => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
    });
    try {
      await client(dropped.fetchImpl).getDetail('order', 1);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(QBenchTransientError);
    expect((err as QBenchTransientError).kind).to.equal('connection');
    expect(dropped.calls).to.have.length(6);
  });

  it('429: waits by X-QBAPI-Throttle-TTL, else Retry-After, else the "Retry in N seconds" text', async () => {
    const answers = [
      json(429, { error: 'rate_limited' }, { 'x-qbapi-throttle-ttl': '0.2' }),
      json(429, { error: 'rate_limited' }, { 'retry-after': '0' }),
      json(429, { error: 'rate_limited', error_description: 'ratelimit exceeded 300 per 60 seconds [current count: 350]. Retry in 0.1 seconds' }),
      json(200, { id: 3 }),
    ];
    const events: ClientEvent[] = [];
    const f = fakeQBench(() => answers.shift()!);
    const t0 = performance.now();
    const d = await client(f.fetchImpl, { onEvent: (e) => events.push(e), random: () => 0 }).getDetail('order', 3);
    const waits = events.filter((e) => e.type === 'rate_limited').map((e) => e.waitMs);
    expect(waits).to.deep.equal([200, 0, 100]);
    expect(performance.now() - t0).to.be.at.least(290);
    expect(d?.attempts).to.equal(4);
  });

  it('times out a hanging request and retries it', async () => {
    let n = 0;
    const f = fakeQBench(
      (_url, init) =>
        new Promise<Response>((resolve, reject) => {
          if (++n === 1) {
            init.signal!.addEventListener('abort', () => reject(init.signal!.reason));
            return; // hang until aborted
          }
          resolve(json(200, { id: 1 }));
        }),
    );
    const d = await client(f.fetchImpl, { requestTimeoutMs: 50 }).getDetail('order', 1);
    expect(d?.attempts).to.equal(2);
  });

  it('paginate stops at total_pages or an empty page, ignores unknown keys, and prefetches in order', async () => {
    const totalPages = 7;
    let inFlight = 0;
    let peak = 0;
    const f = fakeQBench(async (url) => {
      const n = Number(url.searchParams.get('page_num'));
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 10 + ((n * 7) % 5) * 5)); // out-of-order completion
      inFlight--;
      return json(200, { total_count: null, total_pages: totalPages, data: [{ id: n }], [`qb${n}`]: 'x' });
    });
    const c = client(f.fetchImpl, { maxConcurrency: 3 });
    const seen: number[] = [];
    for await (const p of c.paginate('customers', { prefetch: 4 })) seen.push(p.pageNum);
    expect(seen).to.deep.equal([1, 2, 3, 4, 5, 6, 7]);
    expect(peak).to.equal(3);
    expect(f.calls).to.have.length(7);

    const e = fakeQBench((url) => json(200, page(url.searchParams.get('page_num') === '3' ? [] : [{ id: 1 }], 99)));
    const got: number[] = [];
    for await (const p of client(e.fetchImpl).paginate('orders', { startPage: 2 })) got.push(p.pageNum);
    expect(got).to.deep.equal([2, 3]);
  });

  it('getUpdates calls the v1 feed and refuses entities without one', async () => {
    const f = fakeQBench(() => json(200, { updated: [1, 19], deleted: [18, 23] }));
    const c = client(f.fetchImpl);
    const u = await c.getUpdates('tests', 1_760_000_000.7, { returnObjects: true });
    expect(u.path).to.equal('/qbench/api/v1/updates/test/1760000000');
    expect(u.params).to.deep.equal({ return_objects: 'true', include_raw_worksheet_data: 'true' });
    expect(u.updated).to.deep.equal([1, 19]);
    expect(u.deleted).to.deep.equal([18, 23]);
    let err: unknown;
    try {
      await c.getUpdates('batch', 0);
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).to.match(/no Updates feed for batches/);
  });

  it("a caller's abort stops a request at once (no retry), and breaking out of paginate aborts prefetches", async () => {
    let aborted = 0;
    const f = fakeQBench(
      (url, init) =>
        new Promise<Response>((resolve, reject) => {
          init.signal!.addEventListener('abort', () => {
            aborted++;
            reject(init.signal!.reason);
          });
          if (url.searchParams.get('page_num') === '1') resolve(json(200, page([{ id: 1 }], 10)));
        }),
    );
    const c = client(f.fetchImpl);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('shutting down')), 30);
    let err: unknown;
    try {
      await c.getDetail('order', 5, { signal: ac.signal });
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).to.equal('shutting down');
    expect(f.calls).to.have.length(1);

    for await (const p of c.paginate('customers', { prefetch: 3 })) {
      expect(p.pageNum).to.equal(1);
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
    expect(f.calls).to.have.length(5); // detail + page 1 + 3 prefetched
    expect(aborted).to.equal(4); // the detail and the 3 abandoned prefetches
  });

  it('token provider: renews refreshBeforeSeconds early, and keeps the old token if renewal fails before expiry', async () => {
    let now = 1_000_000_000_000;
    let fail = false;
    let issued = 0;
    const fetchImpl = (async () => {
      if (fail) return json(503, { error: 'unavailable' });
      issued++;
      return json(200, { access_token: `t${issued}`, token_type: 'Bearer', expires_in: 3600 });
    }) as unknown as typeof fetch;
    const tp = new TokenProvider({
      baseUrl: 'http://qbench.test',
      clientId: 'cid',
      clientSecret: SECRET,
      fetch: fetchImpl,
      now: () => now,
      retry: { baseDelayMs: 1, maxDelayMs: 1, maxAttempts: 2 },
    });
    expect(tp.tokenUrl).to.equal('http://qbench.test/qbench/oauth2/v1/token');
    expect(await tp.getToken()).to.equal('t1');
    now += 3539_000;
    expect(await tp.getToken()).to.equal('t1'); // still more than 60 s left
    now += 2_000;
    expect(await tp.getToken()).to.equal('t2'); // inside the last 60 s: renewed
    now += 3545_000;
    fail = true;
    expect(await tp.getToken()).to.equal('t2'); // renewal failed, t2 has ~55 s left
    now += 60_000;
    let err: unknown;
    try {
      await tp.getToken();
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(QBenchAuthError);
    expect((err as Error).message).to.include('HTTP 503').and.not.include(SECRET);
  });
});
