// Entry for `qbsync sim` (wired in cli/ by the lead): starts a simulator for demos and manual runs, prints where
// it listens, and optionally advances simulated time on a timer so a running sync keeps seeing new data.

import { startSimulator, type FaultOptions, type SimSize, type Simulator } from './index.js';

export interface SimCommandOptions {
  port: number;
  size: SimSize;
  seed: number;
  host?: string;
  clientId?: string;
  clientSecret?: string;
  /** Fault flags (see FaultOptions). */
  errorRate?: number;
  latencyMs?: number;
  hangRate?: number;
  dropRate?: number;
  malformedRate?: number;
  badTestPageRate?: number;
  rateLimitStorm?: boolean;
  /** false turns the 300/60 s limit off. */
  rateLimit: boolean;
  /** Access token lifetime in seconds (default 3600). */
  tokenLifetimeSeconds?: number;
  /** Advance the simulated clock by tickHours every tickSeconds (both needed). */
  tickHours?: number;
  tickSeconds?: number;
  /** Where the start line (and tick lines) go; default console.log. */
  print?: (line: string) => void;
  /** Optional per-request log. */
  log?: (line: string) => void;
}

/** Credentials a demo uses when none are given (the simulator is local; these are not secrets). */
export const DEMO_CLIENT_ID = 'qbsync-demo';
export const DEMO_CLIENT_SECRET = 'qbsync-demo-secret';

export async function runSimCommand(opts: SimCommandOptions): Promise<Simulator> {
  const print = opts.print ?? ((line: string) => console.log(line));
  const faults: FaultOptions = {};
  if (opts.errorRate !== undefined) faults.errorRate = opts.errorRate;
  if (opts.latencyMs !== undefined) faults.latencyMs = opts.latencyMs;
  if (opts.hangRate !== undefined) faults.hangRate = opts.hangRate;
  if (opts.dropRate !== undefined) faults.dropRate = opts.dropRate;
  if (opts.malformedRate !== undefined) faults.malformedRate = opts.malformedRate;
  if (opts.badTestPageRate !== undefined) faults.badTestPageRate = opts.badTestPageRate;
  if (opts.rateLimitStorm !== undefined) faults.rateLimitStorm = opts.rateLimitStorm;

  const sim = await startSimulator({
    size: opts.size,
    seed: opts.seed,
    host: opts.host,
    port: opts.port,
    clientId: opts.clientId ?? DEMO_CLIENT_ID,
    clientSecret: opts.clientSecret ?? DEMO_CLIENT_SECRET,
    rateLimit: { enabled: opts.rateLimit },
    tokenLifetimeSeconds: opts.tokenLifetimeSeconds,
    faults,
    log: opts.log,
  });
  print(`QBench simulator (size ${opts.size}, seed ${opts.seed}) listening on ${sim.url}`);

  const { tickHours, tickSeconds } = opts;
  if (tickHours !== undefined && tickSeconds !== undefined) {
    if (!(tickHours > 0) || !(tickSeconds > 0)) {
      await sim.close();
      throw new RangeError('tickHours and tickSeconds must both be > 0');
    }
    const timer = setInterval(() => {
      const r = sim.advance(tickHours);
      opts.log?.(`advanced ${tickHours} h to ${sim.now().toISOString()}: +${r.created} created, ${r.updated} updated, ${r.deleted} deleted`);
    }, tickSeconds * 1000);
    const close = sim.close.bind(sim);
    sim.close = () => {
      clearInterval(timer);
      return close();
    };
  }
  return sim;
}
