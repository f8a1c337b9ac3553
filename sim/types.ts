// The simulator's public types (re-exported by sim/index.ts). Other rooms code against these.

export type SimSize = 'tiny' | 'small' | 'medium' | 'large';
export type SimEntity = 'customer' | 'order' | 'sample' | 'test' | 'batch' | 'assay' | 'report';

export const SIM_ENTITIES: readonly SimEntity[] = ['customer', 'order', 'sample', 'test', 'batch', 'assay', 'report'];
export const SIM_SIZES: readonly SimSize[] = ['tiny', 'small', 'medium', 'large'];

export interface FaultOptions {
  /** 0..1 fraction of API requests answered 500/502/503 (random among them). */
  errorRate?: number;
  /** Added delay per API request. */
  latencyMs?: number;
  /** 0..1 requests that never answer (socket held open until the client gives up / server closes). */
  hangRate?: number;
  /** 0..1 requests whose socket is destroyed without a response. */
  dropRate?: number;
  /** 0..1 list/detail 200 responses whose body is not valid JSON (garbage or truncated mid-JSON). */
  malformedRate?: number;
  /** 0..1 v1 test LIST pages that answer 400 (the real API's known quirk); see sim/README.md. */
  badTestPageRate?: number;
  /** When true every API request answers 429 (with the TTL header). */
  rateLimitStorm?: boolean;
}

export interface RateLimitOptions {
  enabled: boolean;
  limit?: number;
  windowSeconds?: number;
}

export interface SimOptions {
  size: SimSize;
  /** An integer. Deterministic: same size+seed -> same data. */
  seed: number;
  clientId: string;
  clientSecret: string;
  /** Default '127.0.0.1'. */
  host?: string;
  /** 0 = ephemeral (default). */
  port?: number;
  /** Default 3600. */
  tokenLifetimeSeconds?: number;
  /** Default enabled, 300 per 60 s per client. */
  rateLimit?: RateLimitOptions;
  faults?: FaultOptions;
  /** The simulated "now" at start (default 2026-11-20T12:00:00Z, fixed so data is deterministic). */
  now?: Date;
  /** Fraction of test list items lacking label_abbr/title/has_report/report_completed_date (default 0.05). */
  missingFieldRate?: number;
  /** Optional request log. */
  log?: (line: string) => void;
}

export interface SimStats {
  /** API requests (under /qbench/api/); token and admin requests are not counted here. */
  requests: number;
  byStatus: Record<string, number>;
  byPath: Record<string, number>;
  tokenRequests: number;
  /** Epoch ms of each API request, for rate-budget checks. */
  requestTimes: number[];
}

export interface AdvanceResult {
  created: number;
  updated: number;
  deleted: number;
}

export interface SimTruth {
  /** Ascending ids. */
  ids(entity: SimEntity, opts?: { includeDeleted?: boolean }): number[];
  /**
   * The full (detail) object as the API would serve it (test details as with include_raw_worksheet_data=true),
   * without the random extra key. Undefined for unknown or deleted ids unless includeDeleted is set.
   */
  get(entity: SimEntity, id: number, opts?: { includeDeleted?: boolean }): Record<string, unknown> | undefined;
  count(entity: SimEntity, opts?: { includeDeleted?: boolean }): number;
  deletedIds(entity: SimEntity): number[];
}

export interface Simulator {
  /** Base URL like http://127.0.0.1:PORT (QBench "host"; API under /qbench/api/v1/...). */
  url: string;
  port: number;
  close(): Promise<void>;
  /** Replaces the fault settings at run time. */
  setFaults(f: FaultOptions): void;
  setRateLimit(r: RateLimitOptions): void;
  /** Advances the simulated clock and mutates data. */
  advance(hours: number): AdvanceResult;
  now(): Date;
  stats(): SimStats;
  resetStats(): void;
  /** Makes every issued access token expired now. */
  expireTokens(): void;
  truth: SimTruth;
}
