// One HTTP exchange with a deadline: send, read the whole body, classify what went wrong.
//
// The timeout covers headers AND body, because a server that stalls mid-body is as stuck
// as one that never answers. Failures come back as AttemptFailure('timeout'|'connection'),
// which callers may retry; an abort by the caller's own signal is re-thrown untouched.
import { isConnectionError } from './retry.js';

export interface AttemptResult {
  status: number;
  headers: Headers;
  text: string;
  durationMs: number;
  receivedAt: Date;
}

export class AttemptFailure extends Error {
  constructor(
    readonly kind: 'timeout' | 'connection',
    message: string,
    readonly durationMs: number,
    cause?: unknown,
  ) {
    super(message, { cause });
    this.name = 'AttemptFailure';
  }
}

export type FetchLike = typeof fetch;

export async function sendOnce(
  fetchImpl: FetchLike,
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
  timeoutMs: number,
  callerSignal?: AbortSignal,
): Promise<AttemptResult> {
  if (callerSignal?.aborted) throw callerSignal.reason;
  const deadline = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    deadline.abort(new Error(`timed out after ${timeoutMs} ms`));
  }, timeoutMs);
  // Linked by hand rather than AbortSignal.any: one long-lived caller signal (a whole
  // pagination) would otherwise collect a dependent signal per request.
  const onCallerAbort = () => deadline.abort(callerSignal!.reason);
  callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  const started = performance.now();
  try {
    const res = await fetchImpl(url, { ...init, signal: deadline.signal });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, durationMs: Math.round(performance.now() - started), receivedAt: new Date() };
  } catch (err) {
    const durationMs = Math.round(performance.now() - started);
    if (callerSignal?.aborted) throw callerSignal.reason;
    if (timedOut) throw new AttemptFailure('timeout', `no complete response within ${timeoutMs} ms`, durationMs, err);
    if (isConnectionError(err)) throw new AttemptFailure('connection', describeNetworkError(err), durationMs, err);
    throw err;
  } finally {
    clearTimeout(timer);
    callerSignal?.removeEventListener('abort', onCallerAbort);
  }
}

/** "fetch failed (UND_ERR_SOCKET: other side closed)": the useful part of undici's error chain. */
export function describeNetworkError(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const o = e as { code?: unknown; message?: unknown; cause?: unknown };
    const piece = [typeof o.code === 'string' ? o.code : '', typeof o.message === 'string' ? o.message : ''].filter(Boolean).join(': ');
    if (piece) parts.push(piece);
    e = o.cause;
  }
  return parts.join(' ← ') || String(err);
}
