/**
 * API users and login (qbsync.api_users). Lockout as the downloader had it: the Nth consecutive failure
 * (QBSYNC_AUTH_MAX_FAILED_LOGINS, default 3) locks the account for QBSYNC_AUTH_LOCKOUT_HOURS (default 24) and
 * answers 423; while locked every attempt answers 423 without checking the password. A success resets the count.
 * Unknown users cost a full scrypt too, so timing does not reveal which usernames exist.
 */
import type pg from 'pg';
import { QbsyncError } from '../../core/index.js';
import { dummyHash, hashPassword, passwordProblem, verifyPassword } from './passwords.js';
import { createLoginToken, revokeUserTokens } from './tokens.js';

type Q = pg.Pool | pg.PoolClient;

export const USERNAME_RE = /^[A-Za-z0-9._@-]{1,64}$/;

export interface UserInfo {
  id: number;
  username: string;
  is_admin: boolean;
  failed_logins: number;
  locked_until: Date | null;
  created_at: Date;
  last_login_at: Date | null;
}

function checkUsername(username: string): void {
  if (!USERNAME_RE.test(username)) throw new QbsyncError('a username has 1 to 64 letters, digits or . _ @ -', 2);
}

function checkPassword(password: string): void {
  const p = passwordProblem(password);
  if (p) throw new QbsyncError(p, 2);
}

export async function addUser(q: Q, username: string, password: string, opts: { admin?: boolean } = {}): Promise<UserInfo> {
  checkUsername(username);
  checkPassword(password);
  const hash = await hashPassword(password);
  try {
    const { rows } = await q.query<UserInfo>(
      `INSERT INTO qbsync.api_users (username, password_hash, is_admin) VALUES ($1, $2, $3)
       RETURNING id, username, is_admin, failed_logins, locked_until, created_at, last_login_at`,
      [username, hash, opts.admin ?? false],
    );
    return rows[0];
  } catch (err) {
    if ((err as { code?: string }).code === '23505') throw new QbsyncError(`user ${username} already exists`, 2);
    throw err;
  }
}

/** Sets a new password, clears any lock and revokes the user's login tokens. */
export async function setPassword(q: Q, username: string, password: string): Promise<void> {
  checkPassword(password);
  const hash = await hashPassword(password);
  const { rows } = await q.query<{ id: number }>(
    `UPDATE qbsync.api_users SET password_hash = $2, failed_logins = 0, locked_until = NULL, updated_at = now()
     WHERE lower(username) = lower($1) RETURNING id`,
    [username, hash],
  );
  if (!rows[0]) throw new QbsyncError(`no user ${username}`, 2);
  await revokeUserTokens(q, rows[0].id);
}

export async function setAdmin(q: Q, username: string, admin: boolean): Promise<void> {
  const r = await q.query(`UPDATE qbsync.api_users SET is_admin = $2, updated_at = now() WHERE lower(username) = lower($1)`, [username, admin]);
  if (!r.rowCount) throw new QbsyncError(`no user ${username}`, 2);
}

export async function unlockUser(q: Q, username: string): Promise<void> {
  const r = await q.query(
    `UPDATE qbsync.api_users SET failed_logins = 0, locked_until = NULL, updated_at = now() WHERE lower(username) = lower($1)`,
    [username],
  );
  if (!r.rowCount) throw new QbsyncError(`no user ${username}`, 2);
}

/** Removes the user; their login tokens go with them (ON DELETE CASCADE). */
export async function removeUser(q: Q, username: string): Promise<void> {
  const r = await q.query(`DELETE FROM qbsync.api_users WHERE lower(username) = lower($1)`, [username]);
  if (!r.rowCount) throw new QbsyncError(`no user ${username}`, 2);
}

export async function listUsers(q: Q): Promise<UserInfo[]> {
  const { rows } = await q.query<UserInfo>(
    `SELECT id, username, is_admin, failed_logins, locked_until, created_at, last_login_at FROM qbsync.api_users ORDER BY lower(username)`,
  );
  return rows;
}

export interface LoginPolicy {
  tokenTtlHours: number;
  maxFailedLogins: number;
  lockoutHours: number;
}

export type LoginResult =
  | { ok: true; accessToken: string; expiresAt: Date; expiresIn: number; user: { username: string; is_admin: boolean } }
  | { ok: false; status: 401 }
  | { ok: false; status: 423; lockedUntil: Date };

export async function login(q: Q, username: string, password: string, policy: LoginPolicy): Promise<LoginResult> {
  const { rows } = await q.query<{ id: number; username: string; password_hash: string; is_admin: boolean; locked_until: Date | null; locked: boolean }>(
    `SELECT id, username, password_hash, is_admin, locked_until, coalesce(locked_until > now(), false) AS locked
     FROM qbsync.api_users WHERE lower(username) = lower($1)`,
    [USERNAME_RE.test(username) ? username : ''],
  );
  const user = rows[0];
  if (!user) {
    await verifyPassword(password, await dummyHash());
    return { ok: false, status: 401 };
  }
  if (user.locked) return { ok: false, status: 423, lockedUntil: user.locked_until! };
  if (!(await verifyPassword(password, user.password_hash))) {
    // One atomic statement: concurrent failures cannot slip past the limit. A lock that has run out starts
    // the count afresh.
    const { rows: after } = await q.query<{ locked_until: Date | null }>(
      `UPDATE qbsync.api_users SET
         failed_logins = CASE WHEN (CASE WHEN locked_until IS NOT NULL THEN 0 ELSE failed_logins END) + 1 >= $2 THEN 0
                              ELSE (CASE WHEN locked_until IS NOT NULL THEN 0 ELSE failed_logins END) + 1 END,
         locked_until = CASE WHEN (CASE WHEN locked_until IS NOT NULL THEN 0 ELSE failed_logins END) + 1 >= $2
                             THEN now() + make_interval(secs => $3) ELSE NULL END,
         updated_at = now()
       WHERE id = $1 RETURNING locked_until`,
      [user.id, policy.maxFailedLogins, policy.lockoutHours * 3600],
    );
    const lockedUntil = after[0]?.locked_until;
    return lockedUntil ? { ok: false, status: 423, lockedUntil } : { ok: false, status: 401 };
  }
  await q.query(`UPDATE qbsync.api_users SET failed_logins = 0, locked_until = NULL, last_login_at = now() WHERE id = $1`, [user.id]);
  const t = await createLoginToken(q, user.id, user.username, policy.tokenTtlHours);
  return {
    ok: true,
    accessToken: t.token,
    expiresAt: t.expiresAt!,
    expiresIn: Math.round(policy.tokenTtlHours * 3600),
    user: { username: user.username, is_admin: user.is_admin },
  };
}
