// QBench's rate limit: 300 requests per 60 s per API client (qbench-api.md §5). A sliding window over the
// accepted requests' times (real wall clock): the 301st request inside any 60 s answers 429 with
// X-QBAPI-Throttle-TTL = seconds until the oldest counted request leaves the window, i.e. until a slot frees.
// Rejected requests do not use up slots, but they do show in the "current count" of the message, which is
// why real 429 bodies report counts above the limit.

import type { RateLimitOptions } from './types.js';

export const DEFAULT_LIMIT = 300;
export const DEFAULT_WINDOW_SECONDS = 60;

export interface RateDecision {
  allowed: boolean;
  /** Seconds until a slot frees (for the header and the message); 0 when allowed. */
  ttl: number;
  /** Requests seen in the window, rejected ones included. */
  count: number;
  limit: number;
  windowSeconds: number;
}

class ClientWindow {
  accepted: number[] = [];
  acceptedHead = 0;
  rejected: number[] = [];
  rejectedHead = 0;

  prune(cutoff: number): void {
    while (this.acceptedHead < this.accepted.length && this.accepted[this.acceptedHead] <= cutoff) this.acceptedHead++;
    while (this.rejectedHead < this.rejected.length && this.rejected[this.rejectedHead] <= cutoff) this.rejectedHead++;
    // Compact now and then so the arrays do not grow without bound in long runs.
    if (this.acceptedHead > 4096) {
      this.accepted = this.accepted.slice(this.acceptedHead);
      this.acceptedHead = 0;
    }
    if (this.rejectedHead > 4096) {
      this.rejected = this.rejected.slice(this.rejectedHead);
      this.rejectedHead = 0;
    }
  }

  get acceptedCount(): number {
    return this.accepted.length - this.acceptedHead;
  }

  get rejectedCount(): number {
    return this.rejected.length - this.rejectedHead;
  }
}

export class RateLimiter {
  private enabled = true;
  private limit = DEFAULT_LIMIT;
  private windowSeconds = DEFAULT_WINDOW_SECONDS;
  private readonly clients = new Map<string, ClientWindow>();

  constructor(opts?: RateLimitOptions) {
    if (opts) this.configure(opts);
  }

  configure(opts: RateLimitOptions): void {
    this.enabled = opts.enabled;
    if (opts.limit !== undefined) {
      if (!Number.isInteger(opts.limit) || opts.limit < 1) throw new RangeError('rateLimit.limit must be a positive integer');
      this.limit = opts.limit;
    }
    if (opts.windowSeconds !== undefined) {
      if (!(opts.windowSeconds > 0)) throw new RangeError('rateLimit.windowSeconds must be > 0');
      this.windowSeconds = opts.windowSeconds;
    }
  }

  settings(): Required<RateLimitOptions> {
    return { enabled: this.enabled, limit: this.limit, windowSeconds: this.windowSeconds };
  }

  /** Counts one request for the client and says whether it may proceed. */
  check(clientId: string, nowMs: number = Date.now()): RateDecision {
    const windowMs = this.windowSeconds * 1000;
    let w = this.clients.get(clientId);
    if (!w) this.clients.set(clientId, (w = new ClientWindow()));
    w.prune(nowMs - windowMs);
    const base = { limit: this.limit, windowSeconds: this.windowSeconds };
    if (!this.enabled || w.acceptedCount < this.limit) {
      w.accepted.push(nowMs);
      return { allowed: true, ttl: 0, count: w.acceptedCount + w.rejectedCount, ...base };
    }
    w.rejected.push(nowMs);
    const oldest = w.accepted[w.acceptedHead];
    const ttl = Math.max(1, Math.ceil((oldest + windowMs - nowMs) / 1000));
    return { allowed: false, ttl, count: w.acceptedCount + w.rejectedCount, ...base };
  }

  /** Message text in QBench's wording. */
  static message(d: RateDecision): string {
    return `ratelimit exceeded ${d.limit} per ${d.windowSeconds} seconds [current count: ${d.count}]. Retry in ${d.ttl} seconds`;
  }
}
