import type { Knex } from 'knex';

/**
 * Reporting API authentication (schema `qbsync`):
 *
 * - api_users: people who log in with POST /api/auth/login. Passwords are scrypt hashes
 *   (`scrypt$N$r$p$salt$hash`, node:crypto); failed_logins / locked_until implement the lockout
 *   (423 after QBSYNC_AUTH_MAX_FAILED_LOGINS failures, for QBSYNC_AUTH_LOCKOUT_HOURS).
 * - api_tokens: every bearer token the API accepts, login tokens (kind 'login', expiring, tied to a user)
 *   and API tokens (kind 'api', from `qbsync token create`). Only the SHA-256 of the token's secret part is
 *   stored; the token id (its public prefix) finds the row, the hash is compared in constant time.
 *   Revocation sets revoked_at and is effective on the next request (every request reads the row).
 * - qbsync.body_record_ids(body) + a GIN index on it over raw.page_bodies: the ids of the records a landed body
 *   carries (list data[], updates updated[], a detail's own id), so GET /api/v1/entities/{kind}/{id}/history finds
 *   every event that carried a record without exploding every body of the entity. An index only: raw stays as
 *   it was landed.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE SCHEMA IF NOT EXISTS qbsync;

    CREATE TABLE qbsync.api_users (
      id             serial PRIMARY KEY,
      username       text NOT NULL CHECK (username ~ '^[A-Za-z0-9._@-]{1,64}$'),
      password_hash  text NOT NULL,
      is_admin       boolean NOT NULL DEFAULT false,
      failed_logins  integer NOT NULL DEFAULT 0,
      locked_until   timestamptz,
      created_at     timestamptz NOT NULL DEFAULT now(),
      updated_at     timestamptz NOT NULL DEFAULT now(),
      last_login_at  timestamptz
    );
    CREATE UNIQUE INDEX api_users_username_uq ON qbsync.api_users (lower(username));

    CREATE TABLE qbsync.api_tokens (
      token_id      text PRIMARY KEY CHECK (token_id ~ '^[0-9a-f]{16}$'),
      kind          text NOT NULL CHECK (kind IN ('api', 'login')),
      name          text NOT NULL,
      user_id       integer REFERENCES qbsync.api_users (id) ON DELETE CASCADE,
      is_admin      boolean NOT NULL DEFAULT false,
      secret_sha256 bytea NOT NULL CHECK (length(secret_sha256) = 32),
      created_at    timestamptz NOT NULL DEFAULT now(),
      expires_at    timestamptz,
      last_used_at  timestamptz,
      revoked_at    timestamptz,
      CHECK (kind = 'api' OR user_id IS NOT NULL)
    );
    CREATE INDEX api_tokens_user_idx ON qbsync.api_tokens (user_id);
    CREATE INDEX api_tokens_expired_login_idx ON qbsync.api_tokens (expires_at) WHERE kind = 'login';

    CREATE FUNCTION qbsync.body_record_ids(body jsonb) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT coalesce(array_agg(DISTINCT x::bigint) FILTER (WHERE x ~ '^[0-9]{1,18}$'), '{}') FROM (
        SELECT e ->> 'id' AS x FROM jsonb_array_elements(CASE WHEN jsonb_typeof(body -> 'data') = 'array' THEN body -> 'data' ELSE '[]' END) e
        UNION ALL
        SELECT e ->> 'id' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(body -> 'updated') = 'array' THEN body -> 'updated' ELSE '[]' END) e
        UNION ALL
        SELECT body ->> 'id' WHERE jsonb_typeof(body) = 'object'
        UNION ALL
        SELECT body -> 'data' ->> 'id' WHERE jsonb_typeof(body -> 'data') = 'object'
      ) ids
    $$;
    CREATE INDEX page_bodies_record_ids_idx ON raw.page_bodies USING gin (qbsync.body_record_ids(body));
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX IF EXISTS raw.page_bodies_record_ids_idx;
    DROP FUNCTION IF EXISTS qbsync.body_record_ids(jsonb);
    DROP TABLE IF EXISTS qbsync.api_tokens;
    DROP TABLE IF EXISTS qbsync.api_users;
  `);
}
