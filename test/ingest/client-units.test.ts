// Unit tests for the pure parts of the QBench client: JWT, wait parsing, backoff, rate
// budget, semaphore, entity catalog, needsTestDetail.
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { signAssertion, decodeJwt } from '../../ingest/client/jwt.js';
import {
  backoffDelayMs,
  parseRetryAfter,
  parseRetryInText,
  parseThrottleTtl,
  rateLimitWaitMs,
  readRateLimitHint,
  resolveRetryPolicy,
  isConnectionError,
} from '../../ingest/client/retry.js';
import { MemoryRateBudget } from '../../ingest/client/rate-budget.js';
import { Semaphore } from '../../ingest/client/concurrency.js';
import { needsTestDetail } from '../../ingest/client/test-fields.js';
import { describeRequest, redactSecrets, parseErrorBody } from '../../ingest/client/errors.js';
import { ENTITIES, parseEntityName, entityInfo } from '../../ingest/entities.js';

describe('client units', () => {
  describe('signAssertion', () => {
    it('builds an HS256 JWT with exactly {sub, iat, exp} and a correct signature', () => {
      const jwt = signAssertion({ clientId: 'cid', clientSecret: 's3cret', nowSeconds: 1_700_000_000 });
      const { header, claims } = decodeJwt(jwt);
      expect(header).to.deep.equal({ alg: 'HS256', typ: 'JWT' });
      expect(claims).to.deep.equal({ sub: 'cid', iat: 1_700_000_000, exp: 1_700_003_300 });
      const [h, c, sig] = jwt.split('.');
      expect(sig).to.equal(createHmac('sha256', 's3cret').update(`${h}.${c}`).digest('base64url'));
      expect(jwt).to.not.include('=');
    });

    it('accepts lifetimes below 3600 and rejects 3600, 0 and fractions', () => {
      const { claims } = decodeJwt(signAssertion({ clientId: 'a', clientSecret: 'b', nowSeconds: 10, lifetimeSeconds: 3599 }));
      expect(claims.exp).to.equal(3609);
      for (const bad of [3600, 4000, 0, -1, 12.5]) {
        expect(() => signAssertion({ clientId: 'a', clientSecret: 'b', lifetimeSeconds: bad })).to.throw(RangeError, /3599/);
      }
      expect(() => signAssertion({ clientId: '', clientSecret: 'b' })).to.throw(TypeError);
    });

    it('defaults iat to now', () => {
      const { claims } = decodeJwt(signAssertion({ clientId: 'a', clientSecret: 'b' }));
      expect(Math.abs((claims.iat as number) - Date.now() / 1000)).to.be.lessThan(2);
    });
  });

  describe('wait parsing', () => {
    it('reads X-QBAPI-Throttle-TTL, Retry-After (seconds and dates) and "Retry in N seconds"', () => {
      expect(parseThrottleTtl('7')).to.equal(7000);
      expect(parseThrottleTtl('1.5')).to.equal(1500);
      expect(parseThrottleTtl('soon')).to.equal(null);
      expect(parseRetryAfter('3', 0)).to.equal(3000);
      const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
      expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:12 GMT', now)).to.equal(12_000);
      expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).to.equal(0);
      expect(parseRetryAfter('garbage', now)).to.equal(null);
      expect(parseRetryInText('ratelimit exceeded 300 per 60 seconds [current count: 350]. Retry in 7 seconds')).to.equal(7000);
      expect(parseRetryInText('Retry in 1 second')).to.equal(1000);
      expect(parseRetryInText('nothing here')).to.equal(null);
    });

    it('prefers the TTL header, then Retry-After, then the text', () => {
      const desc = 'Retry in 9 seconds';
      expect(readRateLimitHint(new Headers({ 'x-qbapi-throttle-ttl': '4', 'retry-after': '5' }), desc, 0)).to.deep.equal({
        hintMs: 4000,
        source: 'x-qbapi-throttle-ttl',
      });
      expect(readRateLimitHint(new Headers({ 'retry-after': '5' }), desc, 0).source).to.equal('retry-after');
      expect(readRateLimitHint(new Headers(), desc, 0)).to.deep.equal({ hintMs: 9000, source: 'error_description' });
      expect(readRateLimitHint(new Headers(), undefined, 0)).to.deep.equal({ hintMs: null, source: 'none' });
      // a Retry-After date is measured against the server's Date header, not our clock
      const h = new Headers({ date: 'Wed, 21 Oct 2015 07:28:00 GMT', 'retry-after': 'Wed, 21 Oct 2015 07:28:06 GMT' });
      expect(readRateLimitHint(h, undefined, 0).hintMs).to.equal(6000);
    });

    it('adds a little jitter to 429 waits and caps them', () => {
      const policy = resolveRetryPolicy({ random: () => 0.999, rateLimitMaxWaitMs: 120_000 });
      const w = rateLimitWaitMs({ hintMs: 7000, source: 'x-qbapi-throttle-ttl' }, 0, policy);
      expect(w).to.be.within(7000, 7700);
      expect(rateLimitWaitMs({ hintMs: 7000, source: 'x-qbapi-throttle-ttl' }, 0, { ...policy, random: () => 0 })).to.equal(7000);
      expect(rateLimitWaitMs({ hintMs: 3_600_000, source: 'retry-after' }, 0, policy)).to.equal(120_000);
    });

    it('backs off with full jitter in [0, min(cap, base·2^n)]', () => {
      const p = { baseDelayMs: 100, maxDelayMs: 1000 };
      expect(backoffDelayMs(0, { ...p, random: () => 0.999 })).to.equal(99);
      expect(backoffDelayMs(3, { ...p, random: () => 0.5 })).to.equal(400);
      expect(backoffDelayMs(10, { ...p, random: () => 0.999 })).to.equal(999);
      expect(backoffDelayMs(10, { ...p, random: () => 0 })).to.equal(0);
    });

    it('validates retry options', () => {
      expect(() => resolveRetryPolicy({ maxAttempts: 0 })).to.throw(RangeError, /maxAttempts/);
      expect(resolveRetryPolicy({}).maxAttempts).to.equal(6);
    });

    it('recognises dropped connections in undici error chains', () => {
      const cause = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
      expect(isConnectionError(new TypeError('fetch failed', { cause }))).to.equal(true);
      expect(isConnectionError(Object.assign(new Error('read'), { code: 'ECONNRESET' }))).to.equal(true);
      expect(isConnectionError(new Error('socket hang up'))).to.equal(true);
      expect(isConnectionError(new RangeError('bad'))).to.equal(false);
    });
  });

  describe('errors', () => {
    it('describes a request and redacts secrets', () => {
      expect(describeRequest({ method: 'GET', path: '/qbench/api/v1/order', params: { page_num: '2', customer_ids: ['1', '2'] } })).to.equal(
        'GET /qbench/api/v1/order?page_num=2&customer_ids=1&customer_ids=2',
      );
      expect(redactSecrets('token abcdef leaked; abcdef', ['abcdef'])).to.equal('token [redacted] leaked; [redacted]');
      expect(parseErrorBody('{"error":"invalid_grant","error_description":"Access token has expired."}')).to.deep.equal({
        errorCode: 'invalid_grant',
        errorDescription: 'Access token has expired.',
        qbErrorCode: undefined,
      });
      expect(parseErrorBody('<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body></html>').errorDescription).to.equal(
        '502 Bad Gateway nginx',
      );
    });
  });

  describe('MemoryRateBudget', () => {
    it('grants up to the limit at once, then waits exactly until the oldest slot leaves the window', async () => {
      const budget = new MemoryRateBudget({ limit: 3, windowMs: 200, marginMs: 0 });
      const t0 = performance.now();
      for (let i = 0; i < 3; i++) await budget.acquire();
      expect(performance.now() - t0).to.be.lessThan(20);
      await budget.acquire();
      const waited = performance.now() - t0;
      expect(waited).to.be.within(195, 400);
    });

    it('serves concurrent callers FIFO and never lets more than `limit` through any window', async () => {
      const budget = new MemoryRateBudget({ limit: 5, windowMs: 150 });
      const order: number[] = [];
      const times: number[] = [];
      await Promise.all(
        Array.from({ length: 17 }, (_, i) =>
          budget.acquire().then(() => {
            order.push(i);
            times.push(performance.now());
          }),
        ),
      );
      expect(order).to.deep.equal([...Array(17).keys()]);
      for (let i = 0; i + 5 < times.length; i++) expect(times[i + 5] - times[i]).to.be.at.least(149);
    });

    it('a later caller does not overtake waiting ones; an aborted waiter leaves the queue', async () => {
      const budget = new MemoryRateBudget({ limit: 1, windowMs: 100 });
      await budget.acquire();
      const ac = new AbortController();
      const got: string[] = [];
      const a = budget.acquire(ac.signal).then(
        () => got.push('a'),
        (e: Error) => got.push(`a:${e.message}`),
      );
      const b = budget.acquire().then(() => got.push('b'));
      ac.abort(new Error('stop'));
      await Promise.all([a, b]);
      expect(got).to.deep.equal(['a:stop', 'b']);
      expect(budget.pending).to.equal(0);
    });

    it('holds each slot for the window plus a safety margin (default 5 %, at most 1 s)', async () => {
      const budget = new MemoryRateBudget({ limit: 1, windowMs: 100, marginMs: 60 });
      const t0 = performance.now();
      await budget.acquire();
      await budget.acquire();
      expect(performance.now() - t0).to.be.within(158, 300);
      expect(new MemoryRateBudget({ windowMs: 3000 }).marginMs).to.equal(150);
      expect(new MemoryRateBudget().marginMs).to.equal(1000);
    });

    it('validates its options', () => {
      expect(() => new MemoryRateBudget({ marginMs: -1 })).to.throw(RangeError);
      expect(() => new MemoryRateBudget({ limit: 0 })).to.throw(RangeError);
      expect(() => new MemoryRateBudget({ windowMs: 0 })).to.throw(RangeError);
      const d = new MemoryRateBudget();
      expect([d.limit, d.windowMs]).to.deep.equal([295, 60_000]);
    });
  });

  describe('Semaphore', () => {
    it('bounds concurrency and hands slots over in order', async () => {
      const sem = new Semaphore(2);
      let inFlight = 0;
      let peak = 0;
      const order: number[] = [];
      await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const release = await sem.acquire();
          order.push(i);
          inFlight++;
          peak = Math.max(peak, inFlight);
          await new Promise((r) => setTimeout(r, 5));
          inFlight--;
          release();
          release(); // idempotent
        }),
      );
      expect(peak).to.equal(2);
      expect(order).to.deep.equal([...Array(8).keys()]);
    });
  });

  describe('needsTestDetail', () => {
    const full = { id: 1, label_abbr: 'CN', title: 'Cannabinoids', has_report: false, report_completed_date: null };
    it('is false when every field is present (null counts as present), top level or under assay', () => {
      expect(needsTestDetail(full)).to.equal(false);
      expect(needsTestDetail({ id: 1, assay: { label_abbr: 'CN', title: 'Cannabinoids' }, has_report: true, report_completed_date: 'x' })).to.equal(false);
      expect(needsTestDetail({ ...full, label_abbr: null, title: null })).to.equal(false);
    });
    it('is true when any field is missing', () => {
      for (const key of ['label_abbr', 'title', 'has_report', 'report_completed_date']) {
        const item: Record<string, unknown> = { ...full };
        delete item[key];
        expect(needsTestDetail(item), key).to.equal(true);
      }
      expect(needsTestDetail({ id: 1, assay: { title: 'x' }, has_report: true, report_completed_date: null })).to.equal(true);
      expect(needsTestDetail(null)).to.equal(true);
    });
  });

  describe('entities', () => {
    it('lists the syncable entities in dependency order', () => {
      expect(ENTITIES.map((e) => e.name)).to.deep.equal(['customers', 'orders', 'samples', 'batches', 'tests', 'assays', 'reports']);
      expect(ENTITIES.map((e) => e.v1)).to.deep.equal(['customer', 'order', 'sample', 'batch', 'test', 'assay', 'report']);
      ENTITIES.forEach((e, i) => {
        for (const dep of e.dependsOn) expect(ENTITIES.findIndex((x) => x.name === dep), `${e.name}→${dep}`).to.be.lessThan(i);
      });
      expect(ENTITIES.filter((e) => !e.updatesFeed).map((e) => e.name)).to.deep.equal(['batches', 'reports']);
      expect(Object.isFrozen(ENTITIES) && Object.isFrozen(ENTITIES[0])).to.equal(true);
    });
    it('parses plural or singular names in any case and rejects others with the valid list', () => {
      expect(parseEntityName('Tests')).to.equal('tests');
      expect(parseEntityName(' batch ')).to.equal('batches');
      expect(parseEntityName('CUSTOMER')).to.equal('customers');
      expect(() => parseEntityName('widgets')).to.throw(Error, /"widgets".*customers, orders, samples, batches, tests, assays, reports/);
      expect(entityInfo('test').name).to.equal('tests');
    });
  });
});
