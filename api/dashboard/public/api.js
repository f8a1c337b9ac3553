// The JSON API client: bearer token from localStorage, query strings without empty values, errors as ApiError.
// A 401 anywhere fires `qbsync:unauthorized` on window (the app goes back to the token form).

const TOKEN_KEY = 'qbsync.token';

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {unknown} [body]
   */
  constructor(status, code, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** @returns {string|null} */
export function getToken() {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** @param {string} token */
export function setToken(token) {
  localStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  try {
    localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage unavailable */
  }
}

/**
 * Path + query string; null, undefined and '' values are left out.
 * @param {string} path
 * @param {Record<string, unknown>} [params]
 */
export function url(path, params = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    qs.set(k, String(v));
  }
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * @param {string} path  e.g. /api/v1/metrics/summary
 * @param {{ params?: Record<string, unknown>, method?: string, body?: unknown, signal?: AbortSignal, auth?: boolean, withHeaders?: boolean }} [opts]
 * @returns {Promise<any>} the parsed body, or with `withHeaders` {body, etag, lastModified}
 */
export async function api(path, opts = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (opts.auth !== false && token) headers.Authorization = `Bearer ${token}`;
  /** @type {RequestInit} */
  const init = { method: opts.method ?? 'GET', headers, signal: opts.signal, credentials: 'omit' };
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(url(path, opts.params), init);
  } catch (err) {
    if (/** @type {Error} */ (err).name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'The API could not be reached (network error).');
  }
  const text = await res.text();
  /** @type {any} */
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!res.ok) {
    const code = body?.error ?? `http_${res.status}`;
    let message = body?.message ?? `${res.status} ${res.statusText}`;
    if (Array.isArray(body?.details) && body.details.length) {
      message += ` (${body.details.map((/** @type {any} */ d) => [d.parameter, d.message].filter(Boolean).join(': ')).join('; ')})`;
    }
    const e = new ApiError(res.status, code, message, body);
    if (res.status === 401 && opts.auth !== false) window.dispatchEvent(new CustomEvent('qbsync:unauthorized', { detail: e }));
    throw e;
  }
  if (body === null && text) throw new ApiError(res.status, 'bad_json', 'The API answered with something that is not JSON.');
  if (opts.withHeaders) return { body, etag: res.headers.get('ETag'), lastModified: res.headers.get('Last-Modified') };
  return body;
}

/** @param {unknown} err */
export const isAbort = (err) => /** @type {Error} */ (err)?.name === 'AbortError';
