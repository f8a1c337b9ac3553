/**
 * Bearer tokens: `qbs_<id>_<secret>` (API tokens, `qbsync token create`) and `qbl_<id>_<secret>` (login
 * tokens, POST /api/auth/login). The id is 8 random bytes in hex and finds the row; the secret is 32 random
 * bytes (base64url) of which only the SHA-256 is stored, compared with crypto.timingSafeEqual. Every request
 * reads the row, so a revocation (or an expiry, or a user losing admin) takes effect at once.
 * Token values are returned once and never logged.
 */
import crypto from 'node:crypto';
import type pg from 'pg';

export type TokenKind = 'api' | 'login';

export interface Principal {
  tokenId: string;
  kind: TokenKind;
  name: string;
  userId: number | null;
  username: string | null;
  isAdmin: boolean;
}

const TOKEN_RE = /^(qbs|qbl)_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
/** Masks anything shaped like one of our tokens (for text that may be logged). */
export const TOKEN_SHAPE = /qb[sl]_[0-9a-f]{16}_[A-Za-z0-9_-]+/g;

export function maskTokens(text: string): string {
  return text.replace(TOKEN_SHAPE, '[REDACTED]');
}

const sha256 = (s: string): Buffer => crypto.createHash('sha256').update(s).digest();

function newToken(kind: TokenKind): { tokenId: string; token: string; hash: Buffer } {
  const tokenId = crypto.randomBytes(8).toString('hex');
  const secret = crypto.randomBytes(32).toString('base64url');
  return { tokenId, token: `${kind === 'api' ? 'qbs' : 'qbl'}_${tokenId}_${secret}`, hash: sha256(secret) };
}

type Q = pg.Pool | pg.PoolClient;

export interface CreatedToken {
  tokenId: string;
  token: string;
  expiresAt: Date | null;
}

export async function createApiToken(q: Q, opts: { name: string; admin?: boolean; expiresAt?: Date | null }): Promise<CreatedToken> {
  const t = newToken('api');
  await q.query(
    `INSERT INTO qbsync.api_tokens (token_id, kind, name, is_admin, secret_sha256, expires_at) VALUES ($1, 'api', $2, $3, $4, $5)`,
    [t.tokenId, opts.name, opts.admin ?? false, t.hash, opts.expiresAt ?? null],
  );
  return { tokenId: t.tokenId, token: t.token, expiresAt: opts.expiresAt ?? null };
}

export async function createLoginToken(q: Q, userId: number, username: string, ttlHours: number): Promise<CreatedToken> {
  const t = newToken('login');
  const { rows } = await q.query<{ expires_at: Date }>(
    `INSERT INTO qbsync.api_tokens (token_id, kind, name, user_id, secret_sha256, expires_at)
     VALUES ($1, 'login', $2, $3, $4, now() + make_interval(secs => $5)) RETURNING expires_at`,
    [t.tokenId, `login:${username}`, userId, t.hash, ttlHours * 3600],
  );
  // Expired login tokens are of no use to anyone: drop them now and then.
  if (Math.random() < 0.05) void q.query(`DELETE FROM qbsync.api_tokens WHERE kind = 'login' AND expires_at < now() - interval '1 day'`).catch(() => undefined);
  return { tokenId: t.tokenId, token: t.token, expiresAt: rows[0].expires_at };
}

interface TokenRow {
  token_id: string;
  kind: TokenKind;
  name: string;
  secret_sha256: Buffer;
  valid: boolean;
  stale_use: boolean;
  token_admin: boolean;
  user_id: number | null;
  username: string | null;
  user_admin: boolean | null;
}

const NOWHERE = crypto.randomBytes(32);

/** The principal a bearer token stands for, or undefined (unknown, malformed, revoked, expired). */
export async function verifyToken(q: Q, token: string): Promise<Principal | undefined> {
  const m = TOKEN_RE.exec(token);
  if (!m) return undefined;
  const kind: TokenKind = m[1] === 'qbs' ? 'api' : 'login';
  const { rows } = await q.query<TokenRow>(
    `SELECT t.token_id, t.kind, t.name, t.secret_sha256, t.is_admin AS token_admin, t.user_id,
            u.username, u.is_admin AS user_admin,
            (t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
             AND (t.kind = 'api' OR u.id IS NOT NULL)) AS valid,
            (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute') AS stale_use
     FROM qbsync.api_tokens t LEFT JOIN qbsync.api_users u ON u.id = t.user_id
     WHERE t.token_id = $1`,
    [m[2]],
  );
  const row = rows[0];
  const presented = sha256(m[3]);
  // Compare even when there is no row, so timing does not tell which ids exist.
  const match = crypto.timingSafeEqual(presented, row ? row.secret_sha256 : NOWHERE);
  if (!row || !match || !row.valid || row.kind !== kind) return undefined;
  if (row.stale_use) {
    // At most one write per token per minute: keeps polling cheap.
    void q.query(`UPDATE qbsync.api_tokens SET last_used_at = now() WHERE token_id = $1`, [row.token_id]).catch(() => undefined);
  }
  return {
    tokenId: row.token_id,
    kind: row.kind,
    name: row.name,
    userId: row.user_id,
    username: row.username,
    isAdmin: row.kind === 'api' ? row.token_admin : Boolean(row.user_admin),
  };
}

export interface TokenInfo {
  token_id: string;
  kind: TokenKind;
  name: string;
  is_admin: boolean;
  username: string | null;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export async function listTokens(q: Q, opts: { includeLogin?: boolean; includeRevoked?: boolean } = {}): Promise<TokenInfo[]> {
  const { rows } = await q.query<TokenInfo>(
    `SELECT t.token_id, t.kind, t.name, CASE WHEN t.kind = 'api' THEN t.is_admin ELSE coalesce(u.is_admin, false) END AS is_admin,
            u.username, t.created_at, t.expires_at, t.last_used_at, t.revoked_at
     FROM qbsync.api_tokens t LEFT JOIN qbsync.api_users u ON u.id = t.user_id
     WHERE ($1 OR t.kind = 'api') AND ($2 OR (t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())))
     ORDER BY t.created_at, t.token_id`,
    [opts.includeLogin ?? false, opts.includeRevoked ?? false],
  );
  return rows;
}

/** Revokes by token id (or the whole token, whose id is read from it). Returns false when no live token matched. */
export async function revokeToken(q: Q, idOrToken: string): Promise<boolean> {
  const m = TOKEN_RE.exec(idOrToken);
  const id = m ? m[2] : idOrToken.replace(/^qb[sl]_/, '');
  if (!/^[0-9a-f]{16}$/.test(id)) return false;
  const r = await q.query(`UPDATE qbsync.api_tokens SET revoked_at = now() WHERE token_id = $1 AND revoked_at IS NULL`, [id]);
  return (r.rowCount ?? 0) > 0;
}

/** Revokes every login token of a user (password change, removal). */
export async function revokeUserTokens(q: Q, userId: number): Promise<number> {
  const r = await q.query(`UPDATE qbsync.api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, [userId]);
  return r.rowCount ?? 0;
}
