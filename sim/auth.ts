// The token endpoint (POST /qbench/oauth2/v1/token, alias /oauth/token) and bearer-token checks for API calls.
// Access tokens are random opaque strings held in memory with their client and real-clock expiry.

import { randomBytes } from 'node:crypto';
import { verifyAssertion, type OAuthError } from './jwt.js';

export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export interface Reply {
  status: number;
  body: Record<string, unknown>;
}

interface IssuedToken {
  clientId: string;
  expiresAtMs: number;
}

export class TokenService {
  private readonly tokens = new Map<string, IssuedToken>();

  constructor(
    private readonly clientId: string,
    private readonly clientSecret: string,
    private readonly lifetimeSeconds: number,
  ) {}

  /** Handles a token request body (form-urlencoded as QBench expects; a JSON body is accepted too). */
  issue(rawBody: string, contentType: string | undefined, nowMs: number = Date.now()): Reply {
    const params = parseBody(rawBody, contentType);
    const grantType = params.get('grant_type');
    const assertion = params.get('assertion');
    const err = (status: number, error: string, error_description: string): Reply => ({ status, body: { error, error_description } });
    if (!grantType) return err(400, 'invalid_request', 'Missing grant_type');
    if (grantType !== JWT_BEARER_GRANT) return err(400, 'unsupported_grant_type', `Unsupported grant_type '${grantType}'; use ${JWT_BEARER_GRANT}`);
    if (!assertion) return err(400, 'invalid_request', 'Missing assertion');
    const result = verifyAssertion(assertion, this.clientId, this.clientSecret, Math.floor(nowMs / 1000));
    if ('error' in result) {
      const e = result as OAuthError;
      return err(e.status, e.error, e.error_description);
    }
    const token = randomBytes(24).toString('hex');
    this.tokens.set(token, { clientId: result.clientId, expiresAtMs: nowMs + this.lifetimeSeconds * 1000 });
    this.prune(nowMs);
    return { status: 200, body: { access_token: token, token_type: 'Bearer', expires_in: this.lifetimeSeconds } };
  }

  /** Checks an Authorization header; returns the client id or the error QBench answers with. */
  authenticate(header: string | undefined, nowMs: number = Date.now()): { clientId: string } | Reply {
    const m = header ? /^Bearer\s+([^\s]+)\s*$/i.exec(header) : null;
    if (!m) return { status: 400, body: { error: 'invalid_request', error_description: 'Invalid Authorization header format' } };
    const issued = this.tokens.get(m[1]);
    if (!issued) return { status: 401, body: { error: 'invalid_token', error_description: 'Invalid access token' } };
    if (issued.expiresAtMs <= nowMs) return { status: 400, body: { error: 'invalid_grant', error_description: 'Access token has expired.' } };
    return { clientId: issued.clientId };
  }

  /** Makes every issued token expired now; returns how many there were. */
  expireAll(nowMs: number = Date.now()): number {
    for (const t of this.tokens.values()) t.expiresAtMs = Math.min(t.expiresAtMs, nowMs - 1);
    return this.tokens.size;
  }

  /** Forget tokens expired for over a day (an expired token must still answer "expired", not "unknown"). */
  private prune(nowMs: number): void {
    if (this.tokens.size < 1000) return;
    for (const [k, t] of this.tokens) if (t.expiresAtMs < nowMs - 86_400_000) this.tokens.delete(k);
  }
}

function parseBody(raw: string, contentType: string | undefined): URLSearchParams {
  if (contentType?.includes('application/json')) {
    try {
      const obj: unknown = JSON.parse(raw);
      const params = new URLSearchParams();
      if (obj && typeof obj === 'object') {
        for (const [k, v] of Object.entries(obj as Record<string, unknown>)) if (typeof v === 'string') params.set(k, v);
      }
      return params;
    } catch {
      return new URLSearchParams();
    }
  }
  return new URLSearchParams(raw);
}
