// HS256 JWT assertion for QBench's jwt-bearer token grant (contract §2).
//
// QBench expects exactly {sub, iat, exp} (no iss/aud), HMAC-SHA256 keyed by the client
// secret, base64url without padding. Lifetimes of exactly 3600 s are reported rejected
// by at least one client, so we default to 3300 s and refuse anything >= 3600.
import { createHmac } from 'node:crypto';

export const DEFAULT_ASSERTION_LIFETIME_SECONDS = 3300;
export const MAX_ASSERTION_LIFETIME_SECONDS = 3599;

export interface AssertionClaims {
  sub: string;
  iat: number;
  exp: number;
}

export interface SignAssertionOptions {
  clientId: string;
  clientSecret: string;
  /** Unix seconds used as iat; defaults to the local clock. Shifted by the caller on clock skew. */
  nowSeconds?: number;
  /** exp − iat in seconds: an integer in 1..3599. */
  lifetimeSeconds?: number;
}

const HEADER = { alg: 'HS256', typ: 'JWT' } as const;

function b64url(input: string | Buffer): string {
  return Buffer.from(input).toString('base64url');
}

/** Throws a RangeError unless `lifetime` is a whole number of seconds in 1..3599. */
export function validateAssertionLifetime(lifetime: number): number {
  if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > MAX_ASSERTION_LIFETIME_SECONDS) {
    throw new RangeError(
      `JWT assertion lifetime must be a whole number of seconds from 1 to ${MAX_ASSERTION_LIFETIME_SECONDS} ` +
        `(QBench rejects 3600 or more); got ${String(lifetime)}`,
    );
  }
  return lifetime;
}

/** Builds and signs the assertion. The result is a credential: never log it. */
export function signAssertion(opts: SignAssertionOptions): string {
  if (typeof opts.clientId !== 'string' || opts.clientId === '') throw new TypeError('clientId must be a non-empty string');
  if (typeof opts.clientSecret !== 'string' || opts.clientSecret === '') {
    throw new TypeError('clientSecret must be a non-empty string');
  }
  const lifetime = validateAssertionLifetime(opts.lifetimeSeconds ?? DEFAULT_ASSERTION_LIFETIME_SECONDS);
  const iat = Math.floor(opts.nowSeconds ?? Date.now() / 1000);
  // Key order sub, iat, exp; QBench checks names, not order, but a fixed order keeps output deterministic.
  const claims: AssertionClaims = { sub: opts.clientId, iat, exp: iat + lifetime };
  const signingInput = `${b64url(JSON.stringify(HEADER))}.${b64url(JSON.stringify(claims))}`;
  const signature = createHmac('sha256', Buffer.from(opts.clientSecret, 'utf8')).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

/** Decodes (without verifying) a compact JWT; for tests and diagnostics. */
export function decodeJwt(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('not a compact JWT (expected three dot-separated parts)');
  const part = (s: string) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: part(parts[0]), claims: part(parts[1]) };
}
