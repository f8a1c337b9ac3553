// The QBench v1 HTTP client: lists (one page, or all pages), details, and the Updates feed.
//
// Every API request goes through the same pipeline:
//   concurrency slot → bearer token → rate-budget slot → one HTTP attempt (with deadline)
// and its outcome is one of: success; re-authenticate and try again (401, 400 invalid_grant,
// 400 "Invalid Authorization header format"); wait as told and try again (429); back off
// and try again (5xx, timeout, dropped connection, 200 with a broken body); or a definite
// answer the caller interprets (404 → null, 400 on a test page → typo retry / skip, other
// 4xx → QBenchHttpError).
//
// The token is fetched before the budget slot is taken, so the moment a budget slot is
// granted is the moment the request leaves; the budget's sliding window then matches
// what QBench counts as closely as we can manage from the client side.
import { entityInfo, type EntityInfo, type EntityName, type SortOrder, type V1Entity } from '../entities.js';
import { Semaphore } from './concurrency.js';
import {
  QBenchAuthError,
  QBenchHttpError,
  QBenchTransientError,
  describeRequest,
  parseErrorBody,
  redactSecrets,
  toSearchParams,
  type QueryParams,
  type RequestInfo,
  type TransientKind,
} from './errors.js';
import { emitSafely, type ClientEventHandler, type Logger } from './events.js';
import { AttemptFailure, sendOnce, type AttemptResult, type FetchLike } from './http.js';
import { MemoryRateBudget, type RateBudget } from './rate-budget.js';
import {
  backoffDelayMs,
  isRetryableStatus,
  rateLimitWaitMs,
  readRateLimitHint,
  resolveRetryPolicy,
  sleep,
  type RetryPolicy,
} from './retry.js';
import { TokenProvider } from './token-provider.js';

export const API_PREFIX = '/qbench/api/v1';
/** QBench's documented maximum page size (contract §3). */
export const MAX_PAGE_SIZE = 50;
export const DEFAULT_MAX_REAUTH = 5;
export const DEFAULT_MAX_CONCURRENCY = 4;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const WORKSHEET_PARAM = 'include_raw_worksheet_data';
/** The spelling in QBench's own Batches doc; some tenants only accept it (contract §5). */
export const WORKSHEET_PARAM_TYPO = 'include_raw_worsksheet_data';
/** Envelope keys that are the page itself; any other top-level key is QBench's random extra key or drift. */
const ENVELOPE_KEYS = new Set(['total_count', 'total_pages', 'data']);

export type EntityRef = EntityName | V1Entity;
export type FilterValue = string | number | boolean | null | undefined | ReadonlyArray<string | number>;

export interface QBenchClientOptions {
  /** QBench host, e.g. https://lab.qbench.net (or the simulator's url). */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  /** Token endpoint; default `${baseUrl}/qbench/oauth2/v1/token`. */
  tokenUrl?: string;
  /** JWT assertion lifetime (exp − iat), default 3300, must be < 3600. */
  assertionLifetimeSeconds?: number;
  /** Renew the token this long before it expires; default 60. */
  refreshBeforeSeconds?: number;
  /** Deadline for one HTTP attempt (headers and body); default 30 000 ms. */
  requestTimeoutMs?: number;
  /** Tries in all for transient failures (5xx, timeout, dropped connection, bad body); default 6. */
  maxAttempts?: number;
  /** Full-jitter backoff base and cap in ms; defaults 500 and 30 000. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Longest single 429 wait honoured; default 120 000 ms. */
  rateLimitMaxWaitMs?: number;
  /** 429s tolerated per request before giving up; default 10. */
  maxRateLimitRetries?: number;
  /** Re-authentications per request before giving up; default 5. */
  maxReauth?: number;
  /** HTTP requests in flight at once; default 4. */
  maxConcurrency?: number;
  /** Shared request budget; default a MemoryRateBudget of 295 per 60 s. */
  rateBudget?: RateBudget;
  logger?: Logger;
  onEvent?: ClientEventHandler;
  /** Injectable fetch (default: Node's global fetch / undici). */
  fetch?: FetchLike;
  /** Randomness for jitter, in [0,1); injectable for deterministic tests. */
  random?: () => number;
}

export interface ListPageOptions {
  /** 1-based. */
  pageNum: number;
  /** 1..50; larger values are clamped to 50 (logged at debug). Default 50. */
  pageSize?: number;
  sortBy?: string;
  sortOrder?: SortOrder | 'ASC' | 'DESC';
  /** Extra query filters; arrays become repeated keys (customer_ids=1&customer_ids=2). */
  filters?: Readonly<Record<string, FilterValue>>;
  signal?: AbortSignal;
}

interface FetchMeta {
  /** HTTP status of the final response. */
  status: number;
  /** Query params actually sent on the final attempt (never contains secrets). */
  params: QueryParams;
  path: string;
  /** Duration of the final HTTP attempt, ms. */
  durationMs: number;
  /** HTTP attempts made, including retries, re-auths and the worksheet-param typo retry. */
  attempts: number;
  /** When the final response arrived. */
  fetchedAt: Date;
  /**
   * QBench's own clock at that moment (its `Date` header), or null when absent/unparseable. The
   * incremental sync keeps its watermark in this clock, since QBench compares `last_updated` with it.
   */
  serverDate: Date | null;
}

export interface ListPage extends FetchMeta {
  skipped: false;
  entity: EntityName;
  pageNum: number;
  pageSize: number;
  data: unknown[];
  totalPages: number;
  totalCount: number | null;
  /** The parsed body exactly as received, unknown keys included. */
  body: unknown;
  /** The response body's text as received (what `body` was parsed from): body-pool.ts prepares bodies from it. */
  text: string;
  /** Envelope keys other than total_count/total_pages/data (e.g. QBench's random "qba" key). */
  extraKeys: Record<string, unknown>;
}

/** A v1 test list page QBench refused with both worksheet-param spellings; the caller records it and goes on. */
export interface SkippedPage extends FetchMeta {
  skipped: true;
  entity: EntityName;
  pageNum: number;
  pageSize: number;
  reason: string;
}

export type PageResult = ListPage | SkippedPage;

export interface PaginateOptions extends Omit<ListPageOptions, 'pageNum'> {
  /** First page to fetch; default 1. */
  startPage?: number;
  /** Once total_pages is known, fetch up to this many pages ahead concurrently; default 0. */
  prefetch?: number;
  /** Give up after this many skipped pages in a row while total_pages is still unknown; default 10. */
  maxConsecutiveSkipped?: number;
}

export interface DetailResult extends FetchMeta {
  entity: EntityName;
  id: string;
  /** v1 details are the bare object, unknown keys included. */
  body: unknown;
  /** The response body's text as received (what `body` was parsed from). */
  text: string;
}

export interface UpdatesResult extends FetchMeta {
  entity: EntityName;
  sinceUnixSeconds: number;
  body: unknown;
  /** Ids, or full objects when returnObjects was set. */
  updated: Array<number | Record<string, unknown>>;
  deleted: number[];
}

type Exchange =
  | { ok: true; status: number; body: unknown; text: string; durationMs: number; fetchedAt: Date; serverDate: Date | null; attempts: number }
  | {
      ok: false;
      status: number;
      errorCode?: string;
      errorDescription?: string;
      durationMs: number;
      fetchedAt: Date;
      attempts: number;
    };

/** Returns null when the body has the expected shape, else what is wrong with it. */
type BodyCheck = (body: unknown) => string | null;

export class QBenchClient {
  readonly baseUrl: string;
  private readonly tokens: TokenProvider;
  private readonly budget: RateBudget;
  private readonly slots: Semaphore;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly maxReauth: number;
  private readonly fetchImpl: FetchLike;
  private readonly clientSecret: string;
  private readonly logger?: Logger;
  private readonly onEvent?: ClientEventHandler;

  constructor(opts: QBenchClientOptions) {
    const base = new URL(opts.baseUrl); // throws early on a bad URL, not on the first request
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`QBench baseUrl must be http(s); got ${base.protocol}`);
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.policy = resolveRetryPolicy({
      maxAttempts: opts.maxAttempts,
      baseDelayMs: opts.backoffBaseMs,
      maxDelayMs: opts.backoffCapMs,
      rateLimitMaxWaitMs: opts.rateLimitMaxWaitMs,
      maxRateLimitRetries: opts.maxRateLimitRetries,
      random: opts.random,
    });
    this.timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!(Number.isFinite(this.timeoutMs) && this.timeoutMs > 0)) throw new RangeError(`requestTimeoutMs must be > 0; got ${this.timeoutMs}`);
    this.maxReauth = opts.maxReauth ?? DEFAULT_MAX_REAUTH;
    if (!Number.isInteger(this.maxReauth) || this.maxReauth < 0) throw new RangeError(`maxReauth must be an integer >= 0; got ${this.maxReauth}`);
    this.slots = new Semaphore(opts.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY);
    this.budget = opts.rateBudget ?? new MemoryRateBudget();
    this.fetchImpl = opts.fetch ?? globalThis.fetch;
    this.clientSecret = opts.clientSecret;
    this.logger = opts.logger;
    this.onEvent = opts.onEvent;
    this.tokens = new TokenProvider({
      baseUrl: this.baseUrl,
      tokenUrl: opts.tokenUrl,
      clientId: opts.clientId,
      clientSecret: opts.clientSecret,
      assertionLifetimeSeconds: opts.assertionLifetimeSeconds,
      refreshBeforeSeconds: opts.refreshBeforeSeconds,
      requestTimeoutMs: this.timeoutMs,
      retry: this.policy,
      fetch: this.fetchImpl,
      logger: opts.logger,
      onEvent: opts.onEvent,
    });
  }

  // ---------------------------------------------------------------- lists

  /**
   * One list page. Test list pages that QBench refuses with 400 are retried once with the
   * misspelt worksheet parameter, then returned as `{ skipped: true, reason }`.
   */
  async listPage(entity: EntityRef, opts: ListPageOptions): Promise<PageResult> {
    const info = entityInfo(entity);
    const pageNum = opts.pageNum;
    if (!Number.isInteger(pageNum) || pageNum < 1) throw new RangeError(`pageNum must be an integer >= 1; got ${String(pageNum)}`);
    const pageSize = this.checkPageSize(opts.pageSize, info);
    const path = `${API_PREFIX}/${info.v1}`;
    const params = buildListParams(info, pageNum, pageSize, opts);
    const base = { entity: info.name, pageNum, pageSize, path };

    const first = await this.exchange(path, params, checkEnvelope, opts.signal);
    if (first.ok) return toListPage(base, params, first);
    if (!(first.status === 400 && info.v1 === 'test')) throw this.httpError('GET', path, params, first);

    // Known v1 quirk: some test pages 400 with the correct spelling; the typo sometimes works.
    const typoParams = withWorksheetTypo(params);
    this.logger?.warn(
      `QBench ${describeRequest({ method: 'GET', path, params })} got HTTP 400` +
        `${first.errorDescription ? ` (${first.errorDescription})` : ''}; retrying with ${WORKSHEET_PARAM_TYPO}`,
    );
    const second = await this.exchange(path, typoParams, checkEnvelope, opts.signal);
    const attempts = first.attempts + second.attempts;
    if (second.ok) return toListPage(base, typoParams, { ...second, attempts });
    if (second.status !== 400) throw this.httpError('GET', path, typoParams, { ...second, attempts });
    const why = (x: { status: number; errorCode?: string; errorDescription?: string }) =>
      `HTTP ${x.status}${x.errorCode || x.errorDescription ? ` (${[x.errorCode, x.errorDescription].filter(Boolean).join(': ')})` : ''}`;
    const reason =
      `test list page ${pageNum} refused: ${why(first)} with ${WORKSHEET_PARAM}, ` + `then ${why(second)} with ${WORKSHEET_PARAM_TYPO}`;
    this.logger?.warn(`QBench GET ${path} page ${pageNum} skipped: ${reason}`);
    return {
      skipped: true,
      ...base,
      reason,
      status: second.status,
      params: typoParams,
      durationMs: second.durationMs,
      attempts,
      fetchedAt: second.fetchedAt,
      serverDate: null,
    };
  }

  /**
   * Every page from `startPage` (default 1) until a page has no data or
   * pageNum >= total_pages. With `prefetch: N`, once total_pages is known the next N pages
   * are requested concurrently (still bounded by maxConcurrency and the rate budget) and
   * yielded in page order. Breaking out of the loop aborts the prefetched requests.
   */
  async *paginate(entity: EntityRef, opts: PaginateOptions = {}): AsyncGenerator<PageResult, void, undefined> {
    const { startPage = 1, prefetch = 0, maxConsecutiveSkipped = 10, signal: callerSignal, ...pageOpts } = opts;
    if (!Number.isInteger(startPage) || startPage < 1) throw new RangeError(`startPage must be an integer >= 1; got ${startPage}`);
    if (!Number.isInteger(prefetch) || prefetch < 0) throw new RangeError(`prefetch must be an integer >= 0; got ${prefetch}`);
    const stop = new AbortController();
    const signal = callerSignal ? AbortSignal.any([callerSignal, stop.signal]) : stop.signal;
    const pending = new Map<number, Promise<PageResult>>();
    const start = (n: number): Promise<PageResult> => {
      let p = pending.get(n);
      if (!p) {
        p = this.listPage(entity, { ...pageOpts, pageNum: n, signal });
        p.catch(() => undefined); // observed when awaited; avoid unhandled rejections for abandoned prefetches
        pending.set(n, p);
      }
      return p;
    };

    let knownTotal: number | null = null;
    let skippedInARow = 0;
    try {
      for (let page = startPage; ; page++) {
        const result = await start(page);
        pending.delete(page);
        let last: boolean;
        if (!result.skipped) {
          knownTotal = result.totalPages;
          skippedInARow = 0;
          last = result.data.length === 0 || page >= result.totalPages;
        } else {
          skippedInARow++;
          if (knownTotal === null && skippedInARow >= maxConsecutiveSkipped) {
            yield result;
            throw new Error(
              `QBench ${entityInfo(entity).name}: ${skippedInARow} list pages in a row were refused before total_pages was known; ` +
                `giving up at page ${page}`,
            );
          }
          last = knownTotal !== null && page >= knownTotal;
        }
        if (!last && prefetch > 0 && knownTotal !== null) {
          for (let n = page + 1; n <= Math.min(knownTotal, page + prefetch); n++) void start(n);
        }
        yield result;
        if (last) return;
      }
    } finally {
      stop.abort(new Error('pagination finished'));
    }
  }

  // ---------------------------------------------------------------- details

  /** One record by id; null when QBench says 404. */
  async getDetail(entity: EntityRef, id: number | string, opts: { signal?: AbortSignal } = {}): Promise<DetailResult | null> {
    const info = entityInfo(entity);
    const idText = String(id).trim();
    if (!/^\d+$/.test(idText)) throw new RangeError(`QBench ${info.v1} id must be a positive integer; got ${JSON.stringify(id)}`);
    const path = `${API_PREFIX}/${info.v1}/${idText}`;
    const params: QueryParams = info.includeRawWorksheetData ? { [WORKSHEET_PARAM]: 'true' } : {};
    const r = await this.exchange(path, params, checkObject, opts.signal);
    if (!r.ok) {
      if (r.status === 404) return null;
      throw this.httpError('GET', path, params, r);
    }
    return {
      entity: info.name,
      id: idText,
      status: r.status,
      body: r.body,
      text: r.text,
      params,
      path,
      durationMs: r.durationMs,
      attempts: r.attempts,
      fetchedAt: r.fetchedAt,
      serverDate: r.serverDate,
    };
  }

  // ---------------------------------------------------------------- updates feed

  /**
   * Ids (or, with returnObjects, full records) updated or deleted since a unix time
   * (contract §3a). QBench has no feed for batches or reports: that throws.
   */
  async getUpdates(
    entity: EntityRef,
    sinceUnixSeconds: number,
    opts: { returnObjects?: boolean; signal?: AbortSignal } = {},
  ): Promise<UpdatesResult> {
    const info = entityInfo(entity);
    if (!info.updatesFeed) {
      throw new Error(
        `QBench has no Updates feed for ${info.name}; feeds exist for ` +
          `customer, contact, order, sample, test and assay. Re-scan ${info.name} by date instead.`,
      );
    }
    if (!Number.isFinite(sinceUnixSeconds) || sinceUnixSeconds < 0) {
      throw new RangeError(`sinceUnixSeconds must be a unix time in seconds >= 0; got ${sinceUnixSeconds}`);
    }
    const since = Math.floor(sinceUnixSeconds);
    const path = `${API_PREFIX}/updates/${info.v1}/${since}`;
    const params: QueryParams = {};
    if (opts.returnObjects) {
      params.return_objects = 'true';
      // Objects from the feed are landed like list items, so ask for the same worksheet data.
      if (info.includeRawWorksheetData) params[WORKSHEET_PARAM] = 'true';
    }
    const r = await this.exchange(path, params, checkUpdates, opts.signal);
    if (!r.ok) throw this.httpError('GET', path, params, r);
    const b = r.body as Record<string, unknown>;
    return {
      entity: info.name,
      sinceUnixSeconds: since,
      status: r.status,
      body: r.body,
      updated: (Array.isArray(b.updated) ? b.updated : []) as Array<number | Record<string, unknown>>,
      deleted: (Array.isArray(b.deleted) ? b.deleted : []) as number[],
      params,
      path,
      durationMs: r.durationMs,
      attempts: r.attempts,
      fetchedAt: r.fetchedAt,
      serverDate: r.serverDate,
    };
  }

  // ---------------------------------------------------------------- the request pipeline

  /**
   * GETs `path` until it has a definite answer: a 2xx whose body passes `check`, or a
   * non-retryable status (returned, not thrown, so callers can treat 404/400 specially).
   * Throws when re-auth, 429 or transient retries run out, or the caller aborts.
   */
  private async exchange(path: string, params: QueryParams, check: BodyCheck, signal?: AbortSignal): Promise<Exchange> {
    const req: RequestInfo = { method: 'GET', path, params };
    const qs = toSearchParams(params).toString();
    const url = `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
    let attempts = 0;
    let transient = 0;
    let rateLimited = 0;
    let reauths = 0;

    /** Counts a transient failure; throws if that was the last allowed try, else waits. */
    const backOff = async (kind: TransientKind | 'http', detail: string, status?: number, errInfo?: { errorCode?: string; errorDescription?: string }, cause?: unknown) => {
      transient++;
      if (transient >= this.policy.maxAttempts) {
        if (kind === 'http' && status !== undefined) {
          throw new QBenchHttpError(req, status, errInfo ?? {}, attempts, `gave up after ${transient} tries`);
        }
        throw new QBenchTransientError(req, kind as TransientKind, detail, attempts, cause);
      }
      const waitMs = backoffDelayMs(transient - 1, this.policy);
      emitSafely(this.onEvent, { type: 'retry', status, path, waitMs, attempt: attempts }, this.logger);
      this.logger?.warn(`QBench ${describeRequest(req)} ${detail}; retry ${transient}/${this.policy.maxAttempts - 1} in ${waitMs} ms`);
      await sleep(waitMs, signal);
    };

    for (;;) {
      attempts++;
      let token: string;
      let res: AttemptResult;
      const release = await this.slots.acquire(signal);
      try {
        token = await this.tokens.getToken(signal);
        await this.budget.acquire(signal);
        res = await sendOnce(
          this.fetchImpl,
          url,
          { method: 'GET', headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } },
          this.timeoutMs,
          signal,
        );
      } catch (err) {
        if (!(err instanceof AttemptFailure)) throw err;
        emitSafely(this.onEvent, { type: 'request', path, attempt: attempts }, this.logger);
        release();
        await backOff(err.kind, err.kind === 'timeout' ? err.message : `connection failed: ${err.message}`, undefined, undefined, err);
        continue;
      } finally {
        release(); // idempotent
      }
      emitSafely(this.onEvent, { type: 'request', status: res.status, path, attempt: attempts }, this.logger);

      if (res.status >= 200 && res.status < 300) {
        let body: unknown;
        let problem: string | null;
        try {
          body = JSON.parse(res.text);
          problem = check(body);
        } catch {
          problem = 'body is not valid JSON';
        }
        if (problem === null) {
          return { ok: true, status: res.status, body, text: res.text, durationMs: res.durationMs, fetchedAt: res.receivedAt, serverDate: parseHttpDate(res.headers.get('date')), attempts };
        }
        await backOff('malformed', `HTTP ${res.status} but ${problem}`, res.status);
        continue;
      }

      const detail = parseErrorBody(res.text);
      const secrets = [token, this.clientSecret, ...this.tokens.secretValues()];
      const errInfo = {
        errorCode: detail.errorCode && redactSecrets(detail.errorCode, secrets),
        errorDescription: detail.errorDescription && redactSecrets(detail.errorDescription, secrets),
      };

      if (isAuthFailure(res.status, errInfo)) {
        this.tokens.invalidate(token);
        if (reauths >= this.maxReauth) {
          throw new QBenchAuthError(
            `QBench ${describeRequest(req)} still failed authentication (HTTP ${res.status}` +
              `${errInfo.errorDescription ? `: ${errInfo.errorDescription}` : ''}) after ${reauths} re-authentications`,
            { status: res.status, ...errInfo, req, attempts },
          );
        }
        reauths++;
        emitSafely(this.onEvent, { type: 'reauth', status: res.status, path, attempt: attempts }, this.logger);
        this.logger?.info(
          `QBench ${describeRequest(req)} got HTTP ${res.status}${errInfo.errorDescription ? ` (${errInfo.errorDescription})` : ''}; ` +
            `re-authenticating (${reauths}/${this.maxReauth})`,
        );
        continue;
      }

      if (res.status === 429) {
        if (rateLimited >= this.policy.maxRateLimitRetries) {
          throw new QBenchHttpError(req, 429, errInfo, attempts, `still rate limited after ${rateLimited} waits`);
        }
        const hint = readRateLimitHint(res.headers, errInfo.errorDescription, Date.now());
        const waitMs = rateLimitWaitMs(hint, rateLimited, this.policy);
        rateLimited++;
        emitSafely(this.onEvent, { type: 'rate_limited', status: 429, path, waitMs, attempt: attempts }, this.logger);
        this.logger?.warn(`QBench ${describeRequest(req)} rate limited (HTTP 429, wait from ${hint.source}); retrying in ${waitMs} ms`);
        await sleep(waitMs, signal);
        continue;
      }

      if (isRetryableStatus(res.status)) {
        await backOff('http', `got HTTP ${res.status}`, res.status, errInfo);
        continue;
      }

      return { ok: false, status: res.status, ...errInfo, durationMs: res.durationMs, fetchedAt: res.receivedAt, attempts };
    }
  }

  private httpError(
    method: string,
    path: string,
    params: QueryParams,
    r: { status: number; errorCode?: string; errorDescription?: string; attempts: number },
  ): QBenchHttpError {
    return new QBenchHttpError({ method, path, params }, r.status, r, r.attempts);
  }

  private checkPageSize(pageSize: number | undefined, info: EntityInfo): number {
    const size = pageSize ?? MAX_PAGE_SIZE;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`pageSize must be an integer from 1 to ${MAX_PAGE_SIZE}; got ${String(pageSize)}`);
    if (size > MAX_PAGE_SIZE) {
      this.logger?.debug(`QBench ${info.v1} list: page_size ${size} requested, QBench allows at most ${MAX_PAGE_SIZE}; using ${MAX_PAGE_SIZE}`);
      return MAX_PAGE_SIZE;
    }
    return size;
  }
}

// ---------------------------------------------------------------- helpers

/** 401, 400 invalid_grant ("Access token has expired."), 400 invalid_request "Invalid Authorization header format" (contract §2). */
export function isAuthFailure(status: number, e: { errorCode?: string; errorDescription?: string }): boolean {
  if (status === 401) return true;
  if (status !== 400) return false;
  if (e.errorCode === 'invalid_grant') return true;
  return e.errorCode === 'invalid_request' && /invalid authorization header/i.test(e.errorDescription ?? '');
}

const RESERVED_PARAMS = new Set(['page_num', 'page_size', 'sort_by', 'sort_order', WORKSHEET_PARAM, WORKSHEET_PARAM_TYPO]);

function buildListParams(info: EntityInfo, pageNum: number, pageSize: number, opts: ListPageOptions): QueryParams {
  const params: QueryParams = { page_num: String(pageNum), page_size: String(pageSize) };
  if (opts.sortBy !== undefined) {
    if (!/^[A-Za-z0-9_.]+$/.test(opts.sortBy)) throw new RangeError(`sortBy must be a field name; got ${JSON.stringify(opts.sortBy)}`);
    params.sort_by = opts.sortBy;
  }
  if (opts.sortOrder !== undefined) {
    const order = String(opts.sortOrder).toLowerCase(); // v1 wants lowercase (contract §3)
    if (order !== 'asc' && order !== 'desc') throw new RangeError(`sortOrder must be asc or desc; got ${JSON.stringify(opts.sortOrder)}`);
    params.sort_order = order;
  }
  for (const [key, value] of Object.entries(opts.filters ?? {})) {
    if (RESERVED_PARAMS.has(key)) throw new RangeError(`filter ${key} is set by the client itself; use the matching option`);
    if (value === null || value === undefined) continue;
    params[key] = Array.isArray(value) ? value.map(String) : String(value);
  }
  if (info.includeRawWorksheetData) params[WORKSHEET_PARAM] = 'true';
  return params;
}

function withWorksheetTypo(params: QueryParams): QueryParams {
  const out: QueryParams = {};
  for (const [k, v] of Object.entries(params)) out[k === WORKSHEET_PARAM ? WORKSHEET_PARAM_TYPO : k] = v;
  if (!(WORKSHEET_PARAM_TYPO in out)) out[WORKSHEET_PARAM_TYPO] = 'true';
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function toIntOrNull(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v.trim())) return Number(v);
  return null;
}

/** v1 list envelope: {total_count: int|null, total_pages: int, data: [...], <random key>} (contract §3). */
const checkEnvelope: BodyCheck = (body) => {
  if (!isPlainObject(body)) return 'list body is not a JSON object';
  if (!Array.isArray(body.data)) return 'list body has no data array';
  if (toIntOrNull(body.total_pages) === null) return 'list body has no numeric total_pages';
  return null;
};

const checkObject: BodyCheck = (body) => (isPlainObject(body) ? null : 'detail body is not a JSON object');

const checkUpdates: BodyCheck = (body) => {
  if (!isPlainObject(body)) return 'updates body is not a JSON object';
  if (!Array.isArray(body.updated) && !Array.isArray(body.deleted)) return 'updates body has neither updated nor deleted arrays';
  return null;
};

function toListPage(
  base: { entity: EntityName; pageNum: number; pageSize: number; path: string },
  params: QueryParams,
  r: { status: number; body: unknown; text: string; durationMs: number; fetchedAt: Date; serverDate: Date | null; attempts: number },
): ListPage {
  const body = r.body as Record<string, unknown>;
  const extraKeys: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) if (!ENVELOPE_KEYS.has(k)) extraKeys[k] = v;
  return {
    skipped: false,
    ...base,
    status: r.status,
    data: body.data as unknown[],
    totalPages: toIntOrNull(body.total_pages)!,
    totalCount: toIntOrNull(body.total_count),
    body: r.body,
    text: r.text,
    extraKeys,
    params,
    durationMs: r.durationMs,
    attempts: r.attempts,
    fetchedAt: r.fetchedAt,
    serverDate: r.serverDate,
  };
}

function parseHttpDate(v: string | null): Date | null {
  if (!v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}
