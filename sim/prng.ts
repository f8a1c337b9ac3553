// Small seeded PRNGs. The simulator never uses Math.random for data: the same size and seed must give
// the same records on every machine and every run, so tests can compare two simulators byte for byte.

/** Mixes any number of 32-bit values into one well-spread 32-bit hash (murmur3-style finaliser per part). */
export function mix32(...parts: number[]): number {
  let h = 0x9e3779b9 ^ parts.length;
  for (const part of parts) {
    // Split values wider than 32 bits (seeds, unix times) so no bits are silently dropped.
    const lo = part >>> 0;
    const hi = Math.floor(part / 4294967296) >>> 0;
    h = Math.imul(h ^ lo, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h ^ hi, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Uniform in [0, 1) from a hash of the parts: a one-shot draw without building a generator. */
export function hashUnit(...parts: number[]): number {
  return mix32(...parts) / 4294967296;
}

/** mulberry32: tiny, fast, good enough statistically for synthetic data. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Float in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** Picks by relative weights (weights need not sum to 1). */
  weighted<T>(items: readonly T[], weights: readonly number[]): T {
    let total = 0;
    for (const w of weights) total += w;
    let u = this.next() * total;
    for (let i = 0; i < items.length; i++) {
      u -= weights[i];
      if (u < 0) return items[i];
    }
    return items[items.length - 1];
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Poisson count; normal approximation above 50 keeps big advances O(1). */
  poisson(lambda: number): number {
    if (lambda <= 0) return 0;
    if (lambda > 50) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * this.normal()));
    const limit = Math.exp(-lambda);
    let k = 0;
    let p = this.next();
    while (p > limit) {
      k++;
      p *= this.next();
    }
    return k;
  }

  /** Hex string of n characters. */
  hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(this.next() * 16).toString(16);
    return s;
  }
}

/** A generator for one record's cosmetic fields, independent of generation order (derived from seed+entity+id). */
export function recordRng(seed: number, entityTag: number, id: number, version = 0): Rng {
  return new Rng(mix32(seed, entityTag, id, version));
}
