// The simulated clock. Data time (date_created, last_updated, the Updates feed) follows this clock, which only
// moves when advance() is called, so a run is reproducible. Token lifetimes and the rate-limit window use
// the real wall clock instead, because clients sign JWTs with their own real clock and back off in real time.

export const DEFAULT_NOW = new Date('2026-11-20T12:00:00Z');

export class SimClock {
  private seconds: number;

  constructor(start: Date = DEFAULT_NOW) {
    this.seconds = Math.floor(start.getTime() / 1000);
  }

  /** Simulated now, unix seconds. */
  get nowSeconds(): number {
    return this.seconds;
  }

  now(): Date {
    return new Date(this.seconds * 1000);
  }

  /** Moves forward by whole seconds; returns [from, to]. Time never goes back. */
  advanceSeconds(delta: number): [number, number] {
    const from = this.seconds;
    this.seconds = from + Math.max(0, Math.round(delta));
    return [from, this.seconds];
  }
}
