// Request budget: keeps our request rate under QBench's limit (300 requests per 60 s,
// contract §5) so that 429s are the exception, not the way we find the limit.
//
// The interface is deliberately one method, so a Postgres-backed budget shared by every
// worker (DESIGN.md "Jobs") can replace the in-memory one without touching the client.

export interface RateBudget {
  /**
   * Resolves when one request may be sent now; the caller sends it immediately after.
   * Rejects with `signal.reason` if the signal aborts while waiting.
   */
  acquire(signal?: AbortSignal): Promise<void>;
}

export interface MemoryRateBudgetOptions {
  /** Requests allowed per window. Default 295: five below QBench's 300 to absorb clock and latency jitter. */
  limit?: number;
  /** Window length in ms. Default 60 000, QBench's window. */
  windowMs?: number;
  /**
   * Extra time each slot is held beyond `windowMs`. The server counts a request when it
   * arrives, we count it when we send it; if an old request took longer to arrive than a
   * new one (a fresh TLS connection, network jitter), both can fall inside the server's
   * window although they were `windowMs` apart here. Default: 5 % of the window, at most
   * 1 s (1 s for QBench's 60 s window).
   */
  marginMs?: number;
  /** Monotonic clock in ms; injectable for tests. */
  now?: () => number;
}

export const DEFAULT_BUDGET_LIMIT = 295;
export const DEFAULT_BUDGET_WINDOW_MS = 60_000;

interface Waiter {
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * Sliding-window log: remembers when each of the last `limit` grants happened. A new grant
 * is allowed when fewer than `limit` grants lie within the last `windowMs` (+ `marginMs`);
 * otherwise the caller waits exactly until the oldest grant leaves that window (one timer
 * for the whole queue, no polling). A sliding log rather than fixed buckets, because a fixed bucket lets
 * 2×limit through around a bucket boundary, and QBench's window slides.
 *
 * Waiters are served strictly first-in first-out, and a new caller never overtakes a queue.
 * Process-local: two processes each with their own MemoryRateBudget can together exceed
 * the limit (use the shared Postgres budget for that).
 */
export class MemoryRateBudget implements RateBudget {
  readonly limit: number;
  readonly windowMs: number;
  readonly marginMs: number;
  /** windowMs + marginMs: how long a grant occupies a slot. */
  private readonly holdMs: number;
  private readonly now: () => number;
  /** Grant times, oldest first; never longer than `limit`. */
  private readonly grants: number[] = [];
  private readonly waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(opts: MemoryRateBudgetOptions = {}) {
    const limit = opts.limit ?? DEFAULT_BUDGET_LIMIT;
    const windowMs = opts.windowMs ?? DEFAULT_BUDGET_WINDOW_MS;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`rate budget limit must be an integer >= 1; got ${limit}`);
    if (!Number.isFinite(windowMs) || windowMs <= 0) {
      throw new RangeError(`rate budget windowMs must be a number > 0; got ${windowMs}`);
    }
    this.limit = limit;
    this.windowMs = windowMs;
    const marginMs = opts.marginMs ?? Math.min(1000, Math.round(windowMs * 0.05));
    if (!Number.isFinite(marginMs) || marginMs < 0) throw new RangeError(`rate budget marginMs must be a number >= 0; got ${marginMs}`);
    this.marginMs = marginMs;
    this.holdMs = windowMs + marginMs;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Grants currently inside the window. */
  get used(): number {
    this.prune(this.now());
    return this.grants.length;
  }

  /** Callers waiting for a slot. */
  get pending(): number {
    return this.waiters.length;
  }

  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const now = this.now();
    this.prune(now);
    if (this.waiters.length === 0 && this.grants.length < this.limit) {
      this.grants.push(now);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          if (this.waiters.length === 0) this.clearTimer();
          reject(signal.reason);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
      this.schedule();
    });
  }

  private prune(now: number): void {
    while (this.grants.length > 0 && now - this.grants[0] >= this.holdMs) this.grants.shift();
  }

  private schedule(): void {
    if (this.timer || this.waiters.length === 0) return;
    const now = this.now();
    this.prune(now);
    // Timers can fire a hair early relative to the clock; drain() re-checks and re-arms.
    const delay = this.grants.length < this.limit ? 0 : Math.max(1, Math.ceil(this.grants[0] + this.holdMs - now));
    this.timer = setTimeout(() => this.drain(), delay);
  }

  private drain(): void {
    this.timer = null;
    const now = this.now();
    this.prune(now);
    while (this.waiters.length > 0 && this.grants.length < this.limit) {
      const w = this.waiters.shift()!;
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
      this.grants.push(now);
      w.resolve();
    }
    this.schedule();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
