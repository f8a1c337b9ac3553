/**
 * API users and login (qbsync.api_users). Lockout as the downloader had it: the Nth consecutive failure
 * (QBSYNC_AUTH_MAX_FAILED_LOGINS, default 3) locks the account for QBSYNC_AUTH_LOCKOUT_HOURS (default 24) and
 * answers 423; while locked every attempt answers 423 without checking the password. A success resets the count.
 *
 * The count and the lock are per username, kept in qbsync.login_failures under qbsync.login_key(username) (a
 * SHA-256 of the lower-cased name), for unknown usernames exactly as for existing ones: same counting, same 423,
 * same work (a full scrypt against a dummy hash, the same statements), so neither the status sequence nor the
 * timing of failed logins tells which usernames exist. Failures older than the lockout window no longer count
 * (the row expires with it); expired rows are deleted a few at a time by later failures.
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
    // Failures recorded for the name before the account existed do not lock the new account.
    const { rows } = await q.query<UserInfo>(
      `WITH cleared AS (DELETE FROM qbsync.login_failures WHERE username_sha256 = qbsync.login_key($1))
       INSERT INTO qbsync.api_users (username, password_hash, is_admin) VALUES ($1, $2, $3)
       RETURNING id, username, is_admin, 0 AS failed_logins, NULL::timestamptz AS locked_until, created_at, last_login_at`,
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
    `UPDATE qbsync.api_users SET password_hash = $2, updated_at = now() WHERE lower(username) = lower($1) RETURNING id`,
    [username, hash],
  );
  if (!rows[0]) throw new QbsyncError(`no user ${username}`, 2);
  await clearFailures(q, username);
  await revokeUserTokens(q, rows[0].id);
}

export async function setAdmin(q: Q, username: string, admin: boolean): Promise<void> {
  const r = await q.query(`UPDATE qbsync.api_users SET is_admin = $2, updated_at = now() WHERE lower(username) = lower($1)`, [username, admin]);
  if (!r.rowCount) throw new QbsyncError(`no user ${username}`, 2);
}

/** Forgets the failed logins (and the lock) recorded for a username. */
async function clearFailures(q: Q, username: string): Promise<void> {
  await q.query(`DELETE FROM qbsync.login_failures WHERE username_sha256 = qbsync.login_key($1)`, [username]);
}

export async function unlockUser(q: Q, username: string): Promise<void> {
  const r = await q.query(`SELECT 1 FROM qbsync.api_users WHERE lower(username) = lower($1)`, [username]);
  if (!r.rowCount) throw new QbsyncError(`no user ${username}`, 2);
  await clearFailures(q, username);
}

/** Removes the user; their login tokens go with them (ON DELETE CASCADE). */
export async function removeUser(q: Q, username: string): Promise<void> {
  const r = await q.query(`DELETE FROM qbsync.api_users WHERE lower(username) = lower($1)`, [username]);
  if (!r.rowCount) throw new QbsyncError(`no user ${username}`, 2);
}

export async function listUsers(q: Q): Promise<UserInfo[]> {
  const { rows } = await q.query<UserInfo>(
    `SELECT u.id, u.username, u.is_admin, coalesce(f.failed_logins, 0) AS failed_logins,
            CASE WHEN f.locked_until > now() THEN f.locked_until END AS locked_until, u.created_at, u.last_login_at
     FROM qbsync.api_users u
     LEFT JOIN qbsync.login_failures f ON f.username_sha256 = qbsync.login_key(u.username) AND f.expires_at > now()
     ORDER BY lower(u.username)`,
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

/**
 * One failed login of `username` (known or not), atomically: concurrent failures cannot slip past the limit, and
 * a failure arriving while another has just locked the name keeps the lock. A row past its expires_at (failures
 * older than the lockout window, or a lock that has run out) counts from zero. A few expired rows of other
 * names are deleted on the way. Returns the end of the lock when the name is (now) locked.
 */
async function recordFailure(q: Q, username: string, policy: LoginPolicy): Promise<Date | null> {
  const { rows } = await q.query<{ locked_until: Date | null }>(
    `WITH purged AS (
       DELETE FROM qbsync.login_failures WHERE username_sha256 IN (
         SELECT username_sha256 FROM qbsync.login_failures
         WHERE expires_at < now() AND username_sha256 <> qbsync.login_key($1)
         ORDER BY expires_at LIMIT 20 FOR UPDATE SKIP LOCKED))
     INSERT INTO qbsync.login_failures AS f (username_sha256, failed_logins, locked_until, expires_at, updated_at)
     VALUES (qbsync.login_key($1), 1, CASE WHEN 1 >= $2 THEN now() + make_interval(secs => $3) END, now() + make_interval(secs => $3), now())
     ON CONFLICT (username_sha256) DO UPDATE SET
       failed_logins = CASE WHEN f.locked_until > now() THEN f.failed_logins
                            ELSE (CASE WHEN f.expires_at <= now() THEN 0 ELSE f.failed_logins END) + 1 END,
       locked_until = CASE WHEN f.locked_until > now() THEN f.locked_until
                           WHEN (CASE WHEN f.expires_at <= now() THEN 0 ELSE f.failed_logins END) + 1 >= $2 THEN now() + make_interval(secs => $3) END,
       expires_at = CASE WHEN f.locked_until > now() THEN f.expires_at ELSE now() + make_interval(secs => $3) END,
       updated_at = now()
     RETURNING locked_until`,
    [username, policy.maxFailedLogins, policy.lockoutHours * 3600],
  );
  return rows[0]?.locked_until ?? null;
}

export async function login(q: Q, username: string, password: string, policy: LoginPolicy): Promise<LoginResult> {
  // One statement for both lookups, whether the user exists or not: the lock is the username's.
  const { rows } = await q.query<{ id: number | null; username: string | null; password_hash: string | null; is_admin: boolean | null; locked_until: Date | null }>(
    `SELECT u.id, u.username, u.password_hash, u.is_admin, f.locked_until
     FROM (SELECT qbsync.login_key($1) AS k) k
     LEFT JOIN qbsync.api_users u ON lower(u.username) = lower($2)
     LEFT JOIN qbsync.login_failures f ON f.username_sha256 = k.k AND f.locked_until > now()`,
    [username, USERNAME_RE.test(username) ? username : ''],
  );
  const row = rows[0];
  if (row?.locked_until) return { ok: false, status: 423, lockedUntil: row.locked_until };
  const user = row?.id != null ? row : undefined;
  // An unknown user costs a full scrypt too (against a dummy hash), then goes through the same failure path.
  const ok = await verifyPassword(password, user?.password_hash ?? (await dummyHash()));
  if (!ok || !user) {
    const lockedUntil = await recordFailure(q, username, policy);
    return lockedUntil ? { ok: false, status: 423, lockedUntil } : { ok: false, status: 401 };
  }
  await clearFailures(q, user.username!);
  await q.query(`UPDATE qbsync.api_users SET last_login_at = now() WHERE id = $1`, [user.id]);
  const t = await createLoginToken(q, user.id!, user.username!, policy.tokenTtlHours);
  return {
    ok: true,
    accessToken: t.token,
    expiresAt: t.expiresAt!,
    expiresIn: Math.round(policy.tokenTtlHours * 3600),
    user: { username: user.username!, is_admin: user.is_admin! },
  };
}
