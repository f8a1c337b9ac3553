/**
 * knex CLI configuration, for `NODE_OPTIONS='--import tsx' npx knex migrate:… --knexfile knexfile.ts`.
 * qbsync itself runs migrations through `qbsync migrate` (and at every start), which also starts the
 * embedded Postgres when DATABASE_URL is unset; the knex CLI needs DATABASE_URL.
 */
import { migrationConfig } from './core/database.js';

const connection = process.env.DATABASE_URL;
if (!connection) {
  throw new Error('knexfile.ts: set DATABASE_URL (or use `npx qbsync migrate`, which starts the embedded Postgres)');
}

export default {
  development: { client: 'pg', connection, migrations: { ...migrationConfig(), extension: 'ts' } },
  production: { client: 'pg', connection, migrations: { ...migrationConfig(), extension: 'ts' } },
};
