// Errors thrown by the QBench client.
//
// Every message names the request (method, path, query) so an operator can reproduce it,
// and none ever contains the bearer token, the JWT assertion or the client secret: query
// params carry no secrets by design, and server-supplied text is passed through
// `redactSecrets` in case QBench ever echoes a credential back.

export type QueryParams = Record<string, string | string[]>;

export interface RequestInfo {
  method: string;
  path: string;
  params: QueryParams;
}

/** "GET /qbench/api/v1/test?page_num=2&page_size=50" */
export function describeRequest(req: RequestInfo): string {
  const qs = toSearchParams(req.params).toString();
  return `${req.method} ${req.path}${qs ? `?${qs}` : ''}`;
}

export function toSearchParams(params: QueryParams): URLSearchParams {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) for (const item of v) sp.append(k, item);
    else sp.append(k, v);
  }
  return sp;
}

/** Replaces every occurrence of each (non-trivial) secret in `text` with "[redacted]". */
export function redactSecrets(text: string, secrets: Iterable<string | undefined | null>): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  }
  return out;
}

export class QBenchError extends Error {
  readonly method?: string;
  readonly path?: string;
  readonly params?: QueryParams;
  /** HTTP attempts made for the request before giving up. */
  readonly attempts?: number;

  constructor(message: string, req?: RequestInfo, attempts?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    if (req) {
      this.method = req.method;
      this.path = req.path;
      this.params = req.params;
    }
    this.attempts = attempts;
  }
}

/** QBench answered with an HTTP status we do not retry (4xx), or retries ran out (5xx, 429). */
export class QBenchHttpError extends QBenchError {
  readonly status: number;
  /** OAuth-style `error` or v2 `error_type`, if the body had one. */
  readonly errorCode?: string;
  readonly errorDescription?: string;

  constructor(
    req: RequestInfo,
    status: number,
    detail: { errorCode?: string; errorDescription?: string },
    attempts: number,
    note?: string,
  ) {
    const what = [detail.errorCode, detail.errorDescription].filter(Boolean).join(': ');
    super(
      `QBench ${describeRequest(req)} failed with HTTP ${status}${what ? ` (${what})` : ''}` +
        `${note ? `; ${note}` : ''} after ${attempts} attempt${attempts === 1 ? '' : 's'}`,
      req,
      attempts,
    );
    this.status = status;
    this.errorCode = detail.errorCode;
    this.errorDescription = detail.errorDescription;
  }
}

export type TransientKind = 'timeout' | 'connection' | 'malformed';

/** Timeouts, dropped connections or unparseable bodies persisted past the retry budget. */
export class QBenchTransientError extends QBenchError {
  readonly kind: TransientKind;

  constructor(req: RequestInfo, kind: TransientKind, detail: string, attempts: number, cause?: unknown) {
    super(`QBench ${describeRequest(req)} failed after ${attempts} attempts: ${kind}: ${detail}`, req, attempts, { cause });
    this.kind = kind;
  }
}

/** The token endpoint refused us, or re-authentication did not cure repeated auth failures. */
export class QBenchAuthError extends QBenchError {
  readonly status?: number;
  readonly errorCode?: string;
  readonly errorDescription?: string;

  constructor(
    message: string,
    detail: { status?: number; errorCode?: string; errorDescription?: string; req?: RequestInfo; attempts?: number } = {},
    cause?: unknown,
  ) {
    super(message, detail.req, detail.attempts, { cause });
    this.status = detail.status;
    this.errorCode = detail.errorCode;
    this.errorDescription = detail.errorDescription;
  }
}

/** Pulls {error|error_type, error_description, qb_error_code} out of an error body, if it is JSON. */
export function parseErrorBody(text: string): { errorCode?: string; errorDescription?: string; qbErrorCode?: string } {
  try {
    const body: unknown = JSON.parse(text);
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      const b = body as Record<string, unknown>;
      const str = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);
      return {
        errorCode: str(b.error) ?? str(b.error_type),
        errorDescription: str(b.error_description) ?? str(b.message),
        qbErrorCode: str(b.qb_error_code),
      };
    }
  } catch {
    // not JSON: fall through to the raw-text form below
  }
  // Not JSON (e.g. an nginx 502 page): keep the readable text, short.
  const plain = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return plain ? { errorDescription: plain.slice(0, 200) } : {};
}
