// Request counters. Tests and benchmarks read them to check how many requests a sync made, which paths, and
// whether the client stayed inside the rate budget (requestTimes).

import type { SimStats } from './types.js';

export class StatsRecorder {
  private s: SimStats = StatsRecorder.empty();

  static empty(): SimStats {
    return { requests: 0, byStatus: {}, byPath: {}, tokenRequests: 0, requestTimes: [] };
  }

  apiRequest(pathTemplate: string, atMs: number): void {
    this.s.requests++;
    this.s.byPath[pathTemplate] = (this.s.byPath[pathTemplate] ?? 0) + 1;
    this.s.requestTimes.push(atMs);
  }

  tokenRequest(): void {
    this.s.tokenRequests++;
  }

  /** Status of an API request: an HTTP code, or 'drop' / 'hang' for requests that got no response. */
  outcome(status: number | 'drop' | 'hang'): void {
    const key = String(status);
    this.s.byStatus[key] = (this.s.byStatus[key] ?? 0) + 1;
  }

  snapshot(): SimStats {
    return {
      requests: this.s.requests,
      byStatus: { ...this.s.byStatus },
      byPath: { ...this.s.byPath },
      tokenRequests: this.s.tokenRequests,
      requestTimes: [...this.s.requestTimes],
    };
  }

  reset(): void {
    this.s = StatsRecorder.empty();
  }
}
