/**
 * Secret redaction for anything that leaves the process as text (logs, error messages, stored params).
 * Known secret values are replaced wherever they appear; bearer tokens, JWT-looking strings and
 * passwords inside URLs are masked by shape, so a token we never registered still does not leak.
 */
const MASK = '[REDACTED]';
const knownSecrets = new Set<string>();

/** Registers a value (client secret, access token, DB password) to be masked from now on. */
export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= 4) knownSecrets.add(value);
}

export function forgetSecrets(): void {
  knownSecrets.clear();
}

const PATTERNS: Array<[RegExp, string]> = [
  [/(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi, `$1${MASK}`],
  // JWTs (three base64url parts; header starts with eyJ = '{"')
  [/eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/g, MASK],
  // user:password@ in URLs
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]+:)[^@/\s]+@/gi, `$1${MASK}@`],
  // key=value / "key":"value" pairs whose key names a secret
  [/((?:client_secret|password|access_token|assertion|secret|token)["']?\s*[:=]\s*["']?)[^"'&\s,}]+/gi, `$1${MASK}`],
];

export function redactString(s: string): string {
  let out = s;
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  for (const [re, rep] of PATTERNS) out = out.replace(re, rep);
  return out;
}

const SECRET_KEYS = /^(client_secret|clientsecret|password|access_token|accesstoken|assertion|authorization|token|secret)$/i;

/** Deep copy with secret-named keys masked and every string redacted. */
export function redact<T>(value: T, depth = 0): T {
  if (depth > 8) return value;
  if (typeof value === 'string') return redactString(value) as T;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1)) as T;
  if (value && typeof value === 'object') {
    if (value instanceof Error) {
      return { name: value.name, message: redactString(value.message) } as T;
    }
    if (value instanceof Date) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEYS.test(k) && v != null ? MASK : redact(v, depth + 1);
    }
    return out as T;
  }
  return value;
}
