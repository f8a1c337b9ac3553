// Retry policy: which failures are worth another try, and how long to wait first.
//
// Two kinds of wait:
//  - 429: QBench tells us how long its window needs (X-QBAPI-Throttle-TTL, or Retry-After,
//    or "Retry in N seconds" in error_description). Waiting exactly that (plus a little
//    jitter so concurrent workers don't return in lock-step) is cheaper than guessing.
//  - 5xx, timeouts, dropped connections, broken bodies: nothing tells us when the server
//    recovers, so exponential backoff with FULL jitter (AWS "Exponential Backoff and
//    Jitter"): random in [0, min(cap, base·2^attempt)], which spreads a crowd of retries best.

export interface RetryPolicy {
  /** Total tries (first + retries) for transient failures. */
  maxAttempts: number;
  /** Backoff base in ms: the first retry waits up to this. */
  baseDelayMs: number;
  /** Backoff cap in ms. */
  maxDelayMs: number;
  /** Longest single 429 wait honoured, in ms; longer server hints are clamped. */
  rateLimitMaxWaitMs: number;
  /** How many 429s in a row one request tolerates before failing. */
  maxRateLimitRetries: number;
  /** Source of randomness in [0,1); injectable so tests are deterministic. */
  random: () => number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 6,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  rateLimitMaxWaitMs: 120_000,
  maxRateLimitRetries: 10,
  random: Math.random,
});

export function resolveRetryPolicy(p: Partial<RetryPolicy> = {}): RetryPolicy {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY };
  for (const [k, v] of Object.entries(p)) if (v !== undefined) (policy as unknown as Record<string, unknown>)[k] = v;
  const intAtLeast = (name: keyof RetryPolicy, min: number) => {
    const v = policy[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw new RangeError(`retry option ${name} must be an integer >= ${min}; got ${String(v)}`);
    }
  };
  intAtLeast('maxAttempts', 1);
  intAtLeast('maxRateLimitRetries', 0);
  for (const name of ['baseDelayMs', 'maxDelayMs', 'rateLimitMaxWaitMs'] as const) {
    if (!(Number.isFinite(policy[name]) && policy[name] >= 0)) {
      throw new RangeError(`retry option ${name} must be a number >= 0; got ${String(policy[name])}`);
    }
  }
  return policy;
}

/** Full-jitter backoff before retry number `retry` (0 for the first retry). */
export function backoffDelayMs(retry: number, policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs' | 'random'>): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry));
  return Math.floor(policy.random() * ceiling);
}

/** Seconds (delta) or an HTTP-date; returns ms to wait, or null if absent/unparseable. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | null {
  if (value == null) return null;
  const v = value.trim();
  if (v === '') return null;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - nowMs);
}

/** X-QBAPI-Throttle-TTL: seconds until the window frees up. */
export function parseThrottleTtl(value: string | null | undefined): number | null {
  if (value == null) return null;
  const v = value.trim();
  if (!/^\d+(\.\d+)?$/.test(v)) return null;
  return Math.round(Number(v) * 1000);
}

/** "ratelimit exceeded 300 per 60 seconds [current count: 350]. Retry in 7 seconds" → 7000. */
export function parseRetryInText(text: string | null | undefined): number | null {
  if (!text) return null;
  const m = /retry in\s+(\d+(?:\.\d+)?)\s*(?:s\b|sec|second)/i.exec(text);
  return m ? Math.round(Number(m[1]) * 1000) : null;
}

export interface RateLimitHint {
  /** ms the server asked for, before jitter and cap; null when it gave no hint. */
  hintMs: number | null;
  source: 'x-qbapi-throttle-ttl' | 'retry-after' | 'error_description' | 'none';
}

/**
 * Reads how long a 429 asks us to wait: X-QBAPI-Throttle-TTL first (what QBench sends),
 * then Retry-After (HTTP standard, unconfirmed for QBench), then the body's text.
 * Retry-After dates are measured against the server's own Date header when present, so
 * our clock skew does not stretch or shrink the wait.
 */
export function readRateLimitHint(headers: Headers, errorDescription: string | undefined, nowMs: number): RateLimitHint {
  const ttl = parseThrottleTtl(headers.get('x-qbapi-throttle-ttl'));
  if (ttl !== null) return { hintMs: ttl, source: 'x-qbapi-throttle-ttl' };
  const serverDate = Date.parse(headers.get('date') ?? '');
  const ra = parseRetryAfter(headers.get('retry-after'), Number.isNaN(serverDate) ? nowMs : serverDate);
  if (ra !== null) return { hintMs: ra, source: 'retry-after' };
  const text = parseRetryInText(errorDescription);
  if (text !== null) return { hintMs: text, source: 'error_description' };
  return { hintMs: null, source: 'none' };
}

/**
 * Wait before retrying a 429: the server's hint plus up to 10 % (at most 1 s, at least
 * 100 ms) of random jitter, capped at rateLimitMaxWaitMs. Without a hint, fall back to
 * the backoff ceiling (not full jitter: an immediate retry into a full window is wasted).
 */
export function rateLimitWaitMs(hint: RateLimitHint, retry: number, policy: RetryPolicy): number {
  const base = hint.hintMs ?? Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry));
  const jitter = policy.random() * Math.min(1000, Math.max(100, base * 0.1));
  return Math.round(Math.min(policy.rateLimitMaxWaitMs, base + jitter));
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * True for a dropped or refused connection. undici's fetch reports these as
 * TypeError("fetch failed" / "terminated") with the socket error as `cause`; we look at
 * the whole cause chain for the well-known codes and "socket hang up".
 */
export function isConnectionError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    if (typeof e === 'object') {
      const o = e as { code?: unknown; message?: unknown; cause?: unknown; name?: unknown };
      if (typeof o.code === 'string' && RETRYABLE_CODES.has(o.code)) return true;
      if (typeof o.message === 'string' && /socket hang up|other side closed|terminated|fetch failed/i.test(o.message)) {
        return true;
      }
      e = o.cause;
    } else break;
  }
  // Any other TypeError out of fetch is a network-level failure too (fetch rejects with
  // TypeError for every transport problem); URL mistakes are ruled out at construction.
  return err instanceof TypeError;
}

export function isRetryableStatus(status: number): boolean {
  return status >= 500 && status <= 599;
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
