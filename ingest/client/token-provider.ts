// Access tokens for the QBench API (contract §2).
//
// - One cached token, reused until `refreshBeforeSeconds` before it expires (but never
//   later than half its lifetime, so a short-lived token is not used to its last second).
// - Single-flight: any number of concurrent callers share one token request.
// - Clock skew: QBench validates iat/exp against its own clock; if the token endpoint says
//   400 and its Date header is more than 10 s away from ours, we re-sign once with the
//   server's time and remember the offset for later assertions.
// - Token requests do NOT go through the rate budget: QBench documents the limit for API
//   calls, and token calls are rare (one per ~55 min plus re-auths). This is a choice; a
//   stricter budget could wrap `fetch` here.
// - Transient failures (5xx, timeouts, dropped connections) are retried with backoff; any
//   other refusal is a QBenchAuthError without the assertion or the secret in it.
import { signAssertion, validateAssertionLifetime, DEFAULT_ASSERTION_LIFETIME_SECONDS } from './jwt.js';
import { QBenchAuthError, parseErrorBody, redactSecrets } from './errors.js';
import { AttemptFailure, sendOnce, type FetchLike } from './http.js';
import { backoffDelayMs, isRetryableStatus, rateLimitWaitMs, readRateLimitHint, resolveRetryPolicy, sleep, type RetryPolicy } from './retry.js';
import { emitSafely, type ClientEventHandler, type Logger } from './events.js';

export const DEFAULT_REFRESH_BEFORE_SECONDS = 60;
/** Assumed when the token response has no expires_in (QBench's fixtures say 3600). */
export const DEFAULT_TOKEN_EXPIRES_IN_SECONDS = 3600;
/** Skew beyond which a 400 from the token endpoint is blamed on our clock. */
export const CLOCK_SKEW_THRESHOLD_MS = 10_000;

export interface TokenProviderOptions {
  /** QBench host, e.g. https://lab.qbench.net (a path prefix is kept). */
  baseUrl: string;
  /** Full token URL; defaults to `${baseUrl}/qbench/oauth2/v1/token`. */
  tokenUrl?: string;
  clientId: string;
  clientSecret: string;
  /** exp − iat of the JWT assertion; default 3300, must be < 3600. */
  assertionLifetimeSeconds?: number;
  /** Fetch a new token this long before the cached one expires; default 60. */
  refreshBeforeSeconds?: number;
  /** Deadline per token request; default 30 000 ms. */
  requestTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  fetch?: FetchLike;
  /** Wall clock in ms (Date.now); injectable for tests. */
  now?: () => number;
  logger?: Logger;
  onEvent?: ClientEventHandler;
}

interface CachedToken {
  token: string;
  /** Local wall-clock ms after which we stop using it. */
  refreshAtMs: number;
  expiresAtMs: number;
}

export function defaultTokenUrl(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/qbench/oauth2/v1/token`;
}

export class TokenProvider {
  readonly tokenUrl: string;
  private readonly tokenPath: string;
  private readonly clientId: string;
  private readonly clientSecret: string;
  private readonly lifetime: number;
  private readonly refreshBeforeMs: number;
  private readonly timeoutMs: number;
  private readonly policy: RetryPolicy;
  private readonly fetchImpl: FetchLike;
  private readonly now: () => number;
  private readonly logger?: Logger;
  private readonly onEvent?: ClientEventHandler;
  private cached: CachedToken | null = null;
  private inflight: Promise<CachedToken> | null = null;
  /** serverClock − localClock, learned from a skew-caused 400; added to iat. */
  private clockOffsetMs = 0;
  private lastAssertion: string | null = null;

  constructor(opts: TokenProviderOptions) {
    if (!opts.clientId) throw new TypeError('QBench clientId is required');
    if (!opts.clientSecret) throw new TypeError('QBench clientSecret is required');
    this.tokenUrl = opts.tokenUrl ?? defaultTokenUrl(opts.baseUrl);
    this.tokenPath = new URL(this.tokenUrl).pathname; // also validates the URL up front
    this.clientId = opts.clientId;
    this.clientSecret = opts.clientSecret;
    this.lifetime = validateAssertionLifetime(opts.assertionLifetimeSeconds ?? DEFAULT_ASSERTION_LIFETIME_SECONDS);
    const refreshBefore = opts.refreshBeforeSeconds ?? DEFAULT_REFRESH_BEFORE_SECONDS;
    if (!(Number.isFinite(refreshBefore) && refreshBefore >= 0)) {
      throw new RangeError(`refreshBeforeSeconds must be a number >= 0; got ${refreshBefore}`);
    }
    this.refreshBeforeMs = refreshBefore * 1000;
    this.timeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.policy = resolveRetryPolicy(opts.retry);
    this.fetchImpl = opts.fetch ?? globalThis.fetch;
    this.now = opts.now ?? Date.now;
    this.logger = opts.logger;
    this.onEvent = opts.onEvent;
  }

  /** A bearer token valid for at least a little while. Concurrent callers share one fetch. */
  async getToken(signal?: AbortSignal): Promise<string> {
    if (this.cached && this.now() < this.cached.refreshAtMs) return this.cached.token;
    if (!this.inflight) {
      // Not tied to any one caller's signal: others may be waiting on the same fetch.
      this.inflight = this.fetchToken().then(
        (t) => {
          this.cached = t;
          this.inflight = null;
          return t;
        },
        (err: unknown) => {
          this.inflight = null;
          throw err;
        },
      );
    }
    try {
      const t = await raceAbort(this.inflight, signal);
      return t.token;
    } catch (err) {
      // Renewal failed while the old token is still inside its lifetime: keep using it
      // rather than fail requests it can still authorise; the next call tries again.
      const old = this.cached;
      if (!signal?.aborted && old && this.now() < old.expiresAtMs - 1000) {
        this.logger?.warn(`QBench token renewal failed; using the current token until it expires`, {
          error: err instanceof Error ? err.message : String(err),
        });
        return old.token;
      }
      throw err;
    }
  }

  /**
   * Forgets the cached token after the API rejected it. Pass the token that was rejected:
   * if another request already replaced it, the newer token is kept.
   */
  invalidate(rejectedToken?: string): void {
    if (!this.cached) return;
    if (rejectedToken === undefined || this.cached.token === rejectedToken) this.cached = null;
  }

  /** Values that must never appear in logs or errors (for redaction by callers). */
  secretValues(): string[] {
    return [this.clientSecret, this.cached?.token, this.lastAssertion].filter((s): s is string => !!s);
  }

  private async fetchToken(): Promise<CachedToken> {
    let skewRetried = false;
    let transientRetries = 0;
    let rateLimitRetries = 0;
    for (;;) {
      const nowMs = this.now() + this.clockOffsetMs;
      const assertion = signAssertion({
        clientId: this.clientId,
        clientSecret: this.clientSecret,
        nowSeconds: Math.floor(nowMs / 1000),
        lifetimeSeconds: this.lifetime,
      });
      this.lastAssertion = assertion;
      const body = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString();
      const localBefore = this.now();
      let status: number;
      let headers: Headers;
      let text: string;
      try {
        ({ status, headers, text } = await sendOnce(
          this.fetchImpl,
          this.tokenUrl,
          { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' }, body },
          this.timeoutMs,
        ));
      } catch (err) {
        emitSafely(this.onEvent, { type: 'token', path: this.tokenPath }, this.logger);
        if (err instanceof AttemptFailure && transientRetries + 1 < this.policy.maxAttempts) {
          const waitMs = backoffDelayMs(transientRetries++, this.policy);
          this.logger?.warn(`QBench token request POST ${this.tokenPath} ${err.kind}; retrying in ${waitMs} ms`, { detail: err.message });
          await sleep(waitMs);
          continue;
        }
        throw new QBenchAuthError(
          `QBench token request POST ${this.tokenPath} failed: ${err instanceof Error ? err.message : String(err)}`,
          {},
          err,
        );
      }
      emitSafely(this.onEvent, { type: 'token', status, path: this.tokenPath }, this.logger);

      if (status >= 200 && status < 300) return this.parseTokenResponse(text, localBefore);

      const detail = parseErrorBody(text);
      const errorDescription = detail.errorDescription && redactSecrets(detail.errorDescription, this.secretValues());
      if (isRetryableStatus(status) && transientRetries + 1 < this.policy.maxAttempts) {
        const waitMs = backoffDelayMs(transientRetries++, this.policy);
        this.logger?.warn(`QBench token request POST ${this.tokenPath} got HTTP ${status}; retrying in ${waitMs} ms`);
        await sleep(waitMs);
        continue;
      }
      if (status === 429 && rateLimitRetries < this.policy.maxRateLimitRetries) {
        const waitMs = rateLimitWaitMs(readRateLimitHint(headers, errorDescription, this.now()), rateLimitRetries++, this.policy);
        this.logger?.warn(`QBench token request POST ${this.tokenPath} rate limited; waiting ${waitMs} ms`);
        await sleep(waitMs);
        continue;
      }
      if (status === 400 && !skewRetried) {
        const serverMs = Date.parse(headers.get('date') ?? '');
        // Date has 1 s resolution; the request took a moment; compare with its midpoint.
        const skew = Number.isNaN(serverMs) ? 0 : serverMs - (localBefore + this.now()) / 2;
        if (Math.abs(skew - this.clockOffsetMs) > CLOCK_SKEW_THRESHOLD_MS) {
          skewRetried = true;
          this.clockOffsetMs = Math.round(skew);
          this.logger?.warn(
            `QBench token endpoint refused the assertion and its clock is ${Math.round(skew / 1000)} s off ours; ` +
              're-signing with the server time',
          );
          continue;
        }
      }
      throw new QBenchAuthError(
        `QBench token request POST ${this.tokenPath} failed with HTTP ${status}` +
          `${detail.errorCode || errorDescription ? ` (${[detail.errorCode, errorDescription].filter(Boolean).join(': ')})` : ''}` +
          ' — check the client id/secret and that the API client is a "Server-Side Web Application"',
        { status, errorCode: detail.errorCode, errorDescription },
      );
    }
  }

  private parseTokenResponse(text: string, localBefore: number): CachedToken {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new QBenchAuthError(`QBench token response from POST ${this.tokenPath} is not JSON`);
    }
    const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    if (typeof b.access_token !== 'string' || b.access_token === '') {
      throw new QBenchAuthError(`QBench token response from POST ${this.tokenPath} has no access_token`);
    }
    if (b.token_type !== undefined && String(b.token_type).toLowerCase() !== 'bearer') {
      this.logger?.warn(`QBench token_type is ${String(b.token_type)}, expected Bearer; using it as a bearer token anyway`);
    }
    const expiresIn = Number(b.expires_in ?? DEFAULT_TOKEN_EXPIRES_IN_SECONDS);
    const lifetimeMs = (Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_TOKEN_EXPIRES_IN_SECONDS) * 1000;
    // Measured from when we asked, so response latency only makes us refresh a bit early.
    const expiresAtMs = localBefore + lifetimeMs;
    const refreshAtMs = expiresAtMs - Math.min(this.refreshBeforeMs, lifetimeMs / 2);
    this.logger?.debug(`QBench token obtained from POST ${this.tokenPath}; expires in ${Math.round(lifetimeMs / 1000)} s`);
    return { token: b.access_token, refreshAtMs, expiresAtMs };
  }
}

/** Awaits `p`, but rejects early with the signal's reason if it aborts (p keeps running). */
export function raceAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
