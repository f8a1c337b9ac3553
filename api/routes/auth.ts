/** POST /api/auth/login {username, password} → {access_token, token_type, expires_at, expires_in, user}. */
import { login } from '../auth/users.js';
import { HttpError, type RouteDef } from '../http.js';

export function authRoutes(): RouteDef[] {
  return [
    {
      method: 'post', path: '/api/auth/login', operationId: 'login', tag: 'auth', access: 'public', cache: 'none', errors: [401, 413, 423],
      summary: 'Exchange a username and password for a login token',
      description:
        'The token expires after QBSYNC_AUTH_TOKEN_TTL_HOURS (default 3). Wrong credentials answer 401; after ' +
        'QBSYNC_AUTH_MAX_FAILED_LOGINS (default 3) consecutive failures the username is locked for QBSYNC_AUTH_LOCKOUT_HOURS ' +
        '(default 24) and every attempt answers 423 with locked_until and Retry-After. A username that does not exist is ' +
        'counted and locked the same way, so the answers do not tell which usernames exist.',
      async handler({ body, deps }) {
        const r = await login(deps.db.pool, body.username, body.password, deps.config.auth);
        if (!r.ok && r.status === 423) {
          const retry = Math.max(1, Math.ceil((r.lockedUntil.getTime() - Date.now()) / 1000));
          throw new HttpError(423, 'account_locked', 'the account is locked after repeated failed logins', undefined, { 'Retry-After': String(retry) }, {
            locked_until: r.lockedUntil.toISOString(),
          });
        }
        if (!r.ok) throw new HttpError(401, 'invalid_credentials', 'wrong username or password');
        return { access_token: r.accessToken, token_type: 'bearer', expires_at: r.expiresAt.toISOString(), expires_in: r.expiresIn, user: r.user };
      },
    },
  ];
}
