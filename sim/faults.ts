// Switchable faults for API requests. Random decisions come from a PRNG seeded by the simulator's seed (never
// Math.random), so a test that sends requests one after another sees the same faults on every run. The
// bad-test-page quirk is not random per request at all: whether a page is bad depends only on (seed, page_num),
// as on the real API, where the same page keeps failing until the data on it changes.

import { hashUnit, mix32, Rng } from './prng.js';
import type { FaultOptions } from './types.js';

export type BadPageKind = 'soft' | 'hard';

/** Share of bad pages that fail with both worksheet spellings (the client must skip them). */
export const HARD_BAD_PAGE_SHARE = 0.25;

/**
 * Whether v1 test list page `pageNum` is bad for this seed and rate: 'soft' pages answer 400 only when asked
 * with include_raw_worksheet_data=true and succeed with the typo include_raw_worsksheet_data; 'hard' pages
 * answer 400 whatever the parameters. A page that is bad at rate r stays bad at any higher rate.
 */
export function badTestPageKind(seed: number, pageNum: number, rate: number): BadPageKind | null {
  if (!(rate > 0) || hashUnit(seed, 0xbad, pageNum) >= rate) return null;
  return hashUnit(seed, 0xbad2, pageNum) < HARD_BAD_PAGE_SHARE ? 'hard' : 'soft';
}

function checkRate(name: string, v: number | undefined): void {
  if (v !== undefined && !(v >= 0 && v <= 1)) throw new RangeError(`faults.${name} must be between 0 and 1, got ${v}`);
}

export function validateFaults(f: FaultOptions): FaultOptions {
  for (const k of ['errorRate', 'hangRate', 'dropRate', 'malformedRate', 'badTestPageRate'] as const) checkRate(k, f[k]);
  if (f.latencyMs !== undefined && !(f.latencyMs >= 0)) throw new RangeError(`faults.latencyMs must be >= 0, got ${f.latencyMs}`);
  return { ...f };
}

export type Transport = 'hang' | 'drop' | null;

export class Faults {
  private opts: FaultOptions;
  private readonly rng: Rng;
  readonly seed: number;

  constructor(seed: number, opts: FaultOptions = {}) {
    this.seed = seed;
    this.rng = new Rng(mix32(seed, 0xfa17));
    this.opts = validateFaults(opts);
  }

  set(opts: FaultOptions): void {
    this.opts = validateFaults(opts);
  }

  get(): FaultOptions {
    return { ...this.opts };
  }

  get latencyMs(): number {
    return this.opts.latencyMs ?? 0;
  }

  get storm(): boolean {
    return this.opts.rateLimitStorm === true;
  }

  /** Decided once per request; each draw is taken only when its rate is set, so one fault does not shift another. */
  transport(): Transport {
    if (this.opts.dropRate && this.rng.next() < this.opts.dropRate) return 'drop';
    if (this.opts.hangRate && this.rng.next() < this.opts.hangRate) return 'hang';
    return null;
  }

  serverError(): 500 | 502 | 503 | null {
    if (!this.opts.errorRate || this.rng.next() >= this.opts.errorRate) return null;
    return this.rng.pick([500, 502, 503] as const);
  }

  malformed(): boolean {
    return !!this.opts.malformedRate && this.rng.next() < this.opts.malformedRate;
  }

  badTestPage(pageNum: number): BadPageKind | null {
    return badTestPageKind(this.seed, pageNum, this.opts.badTestPageRate ?? 0);
  }

  /** TTL for storm 429s: short (1–3 s) so clients under test back off without stalling a suite. */
  stormTtl(): number {
    return this.rng.int(1, 3);
  }

  /** Turns a valid JSON body into one that is not: cut mid-document, or an HTML/garbage body. */
  corrupt(body: string): string {
    const mode = this.rng.int(0, 2);
    if (mode === 0 && body.length > 2) return body.slice(0, Math.max(1, Math.floor(body.length * this.rng.range(0.2, 0.9))));
    if (mode === 1) return '<html><body><h1>Upstream error</h1></body></html>';
    return `{"total_count": 12, "data": [ {"id": 1,, } \u0000${this.rng.hex(8)}`;
  }
}

/** Bodies for injected 5xx: 500 from the app (JSON), 502/503 from the proxy in front of it (HTML, as nginx sends). */
export function serverErrorBody(status: 500 | 502 | 503): { contentType: string; body: string } {
  if (status === 500) {
    return {
      contentType: 'application/json',
      body: JSON.stringify({ error: 'server_error', error_description: 'Internal Server Error' }),
    };
  }
  const title = status === 502 ? '502 Bad Gateway' : '503 Service Temporarily Unavailable';
  return {
    contentType: 'text/html',
    body: `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`,
  };
}
