// The JWT-bearer assertion QBench's token endpoint takes (qbench-api.md §2): header {"alg":"HS256","typ":"JWT"},
// claims exactly {sub: client_id, iat, exp}, HMAC-SHA256 keyed by the client secret, base64url without padding.
// verifyAssertion mirrors what the real endpoint checks; signAssertion is for tests and tools.

import { createHmac, timingSafeEqual } from 'node:crypto';

/** Longest exp - iat accepted. DL signs exactly 3600 and works, so 3600 itself is allowed. */
export const MAX_ASSERTION_LIFETIME = 3600;
/** How far in the future iat may be (client clocks drift; COA corrects from the Date header). */
export const MAX_IAT_SKEW = 60;

export interface OAuthError {
  status: number;
  error: string;
  error_description: string;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export function signAssertion(
  clientId: string,
  secret: string,
  opts: { iat?: number; exp?: number; header?: Record<string, unknown>; claims?: Record<string, unknown> } = {},
): string {
  const iat = opts.iat ?? Math.floor(Date.now() / 1000);
  const exp = opts.exp ?? iat + 3300;
  const header = b64url(JSON.stringify(opts.header ?? { alg: 'HS256', typ: 'JWT' }));
  const claims = b64url(JSON.stringify(opts.claims ?? { sub: clientId, iat, exp }));
  const sig = createHmac('sha256', secret).update(`${header}.${claims}`).digest('base64url');
  return `${header}.${claims}.${sig}`;
}

const SEGMENT = /^[A-Za-z0-9_-]+$/;

function decodeJson(segment: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Checks an assertion. Returns the client id, or the OAuth error to answer with:
 * - malformed JWT (segments, base64url, JSON, alg, claim types) -> 400 invalid_request
 * - bad signature or unknown sub -> 401 invalid_client (the assertion does not authenticate this client)
 * - expired, lifetime over 3600 s, iat in the future -> 400 invalid_grant
 */
export function verifyAssertion(assertion: string, clientId: string, secret: string, nowSeconds: number): { clientId: string } | OAuthError {
  const fail = (status: number, error: string, error_description: string): OAuthError => ({ status, error, error_description });
  const parts = assertion.split('.');
  if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p))) {
    return fail(400, 'invalid_request', 'Malformed JWT assertion: expected three base64url segments');
  }
  const header = decodeJson(parts[0]);
  const claims = decodeJson(parts[1]);
  if (!header || !claims) return fail(400, 'invalid_request', 'Malformed JWT assertion: header or claims are not JSON objects');
  if (header.alg !== 'HS256') return fail(400, 'invalid_request', `Unsupported JWT algorithm '${String(header.alg)}'; use HS256`);
  const { sub, iat, exp } = claims;
  if (typeof sub !== 'string' || typeof iat !== 'number' || typeof exp !== 'number') {
    return fail(400, 'invalid_request', 'JWT claims must include sub (string), iat and exp (unix seconds)');
  }
  const expected = createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return fail(401, 'invalid_client', 'JWT signature verification failed');
  }
  // Compare the client id in constant time too; it is not secret, but there is no reason to leak it.
  const subBuf = Buffer.from(sub);
  const idBuf = Buffer.from(clientId);
  if (subBuf.length !== idBuf.length || !timingSafeEqual(subBuf, idBuf)) {
    return fail(401, 'invalid_client', 'Unknown client: JWT sub does not match a registered API client');
  }
  if (exp <= nowSeconds) return fail(400, 'invalid_grant', 'JWT assertion has expired (exp is in the past)');
  if (iat > nowSeconds + MAX_IAT_SKEW) return fail(400, 'invalid_grant', 'JWT iat is in the future; check the client clock');
  if (exp - iat > MAX_ASSERTION_LIFETIME) {
    return fail(400, 'invalid_grant', `JWT lifetime (exp - iat) must not exceed ${MAX_ASSERTION_LIFETIME} seconds`);
  }
  if (exp <= iat) return fail(400, 'invalid_grant', 'JWT exp must be after iat');
  return { clientId: sub };
}
