import type { Knex } from 'knex';

/**
 * Login failure counting and lockout for every username tried, known or not (POST /api/auth/login):
 *
 * - qbsync.login_failures: one row per username with recent failures, keyed by qbsync.login_key(username), the
 *   SHA-256 of the lower-cased name (the name of someone who does not exist is never stored). failed_logins
 *   counts consecutive failures, locked_until is set by the QBSYNC_AUTH_MAX_FAILED_LOGINS-th; expires_at (the
 *   last failure + QBSYNC_AUTH_LOCKOUT_HOURS, so also the end of a lock) is when the row stops counting: an
 *   expired row is the same as no row and is deleted by a later failed login (a few at a time).
 *   An unknown username is counted, locked and answered exactly as an existing one, so the 401 / 423 sequence of
 *   a login does not tell which usernames exist.
 * - api_users.failed_logins / locked_until are no longer written or read (kept so that a process of the previous
 *   version still running on the same database keeps working until it is restarted); the state they held moves
 *   to the new table.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION qbsync.login_key(username text) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT sha256(convert_to('qbsync-login:' || lower(username), 'UTF8')) $$;

    CREATE TABLE qbsync.login_failures (
      username_sha256 bytea PRIMARY KEY CHECK (length(username_sha256) = 32),
      failed_logins   integer NOT NULL DEFAULT 0,
      locked_until    timestamptz,
      expires_at      timestamptz NOT NULL,
      updated_at      timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX login_failures_expires_idx ON qbsync.login_failures (expires_at);

    INSERT INTO qbsync.login_failures (username_sha256, failed_logins, locked_until, expires_at)
    SELECT qbsync.login_key(username), failed_logins, CASE WHEN locked_until > now() THEN locked_until END,
           CASE WHEN locked_until > now() THEN locked_until ELSE now() + interval '24 hours' END
    FROM qbsync.api_users
    WHERE locked_until > now() OR (locked_until IS NULL AND failed_logins > 0)
    ON CONFLICT DO NOTHING;

    COMMENT ON COLUMN qbsync.api_users.failed_logins IS 'unused since 20261128100000_login_failures (qbsync.login_failures)';
    COMMENT ON COLUMN qbsync.api_users.locked_until IS 'unused since 20261128100000_login_failures (qbsync.login_failures)';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    UPDATE qbsync.api_users u SET failed_logins = CASE WHEN f.locked_until > now() THEN 0 ELSE f.failed_logins END,
           locked_until = CASE WHEN f.locked_until > now() THEN f.locked_until END
    FROM qbsync.login_failures f
    WHERE f.username_sha256 = qbsync.login_key(u.username) AND f.expires_at > now();
    COMMENT ON COLUMN qbsync.api_users.failed_logins IS NULL;
    COMMENT ON COLUMN qbsync.api_users.locked_until IS NULL;
    DROP TABLE IF EXISTS qbsync.login_failures;
    DROP FUNCTION IF EXISTS qbsync.login_key(text);
  `);
}
