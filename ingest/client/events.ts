// Observability hooks shared by the token provider and the client.
import type { Logger } from 'winston';

export type ClientEventType = 'request' | 'retry' | 'rate_limited' | 'reauth' | 'token';

/**
 * One thing the client did, for counters (requests, retries, 429s, re-auths, token fetches).
 * - request: one HTTP attempt against the API finished (status absent if no response came).
 * - retry: a transient failure (5xx, timeout, dropped connection, bad body) will be retried after waitMs.
 * - rate_limited: a 429 will be retried after waitMs.
 * - reauth: an auth failure dropped the token; the request is retried with a new one.
 * - token: one token-endpoint request finished.
 */
export interface ClientEvent {
  type: ClientEventType;
  status?: number;
  path: string;
  waitMs?: number;
  attempt?: number;
}

export type ClientEventHandler = (e: ClientEvent) => void;

export type { Logger };

/** Calls the observer without letting a throwing observer break a request. */
export function emitSafely(handler: ClientEventHandler | undefined, e: ClientEvent, logger?: Logger): void {
  if (!handler) return;
  try {
    handler(e);
  } catch (err) {
    logger?.warn('QBench client onEvent handler threw; ignored', { error: err instanceof Error ? err.message : String(err) });
  }
}
