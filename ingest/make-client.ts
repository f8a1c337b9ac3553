/** Builds the QBench client from configuration. */
import type { Config, Logger } from '../core/index.js';
import { QBenchClient, MemoryRateBudget, type ClientEventHandler, type RateBudget } from './client/index.js';

export interface MakeClientOptions {
  baseUrl: string;
  logger?: Logger;
  onEvent?: ClientEventHandler;
  rateBudget?: RateBudget;
  /** Overrides for tests (short backoffs and timeouts). */
  overrides?: Partial<ConstructorParameters<typeof QBenchClient>[0]>;
}

export function makeClient(config: Config, opts: MakeClientOptions): QBenchClient {
  return new QBenchClient({
    baseUrl: opts.baseUrl,
    tokenUrl: config.qbench.tokenUrl,
    clientId: config.qbench.clientId,
    clientSecret: config.qbench.clientSecret,
    requestTimeoutMs: config.qbench.timeoutSeconds * 1000,
    rateBudget: opts.rateBudget ?? new MemoryRateBudget({ limit: config.qbench.rateLimit, windowMs: config.qbench.rateWindowSeconds * 1000 }),
    logger: opts.logger,
    onEvent: opts.onEvent,
    ...opts.overrides,
  });
}
