/** GET /api/health (process up) and GET /api/ready (database reachable, migrations current). No auth. */
import { createRequire } from 'node:module';
import { pendingMigrations } from '../../core/index.js';
import { Reply, type RouteDef } from '../http.js';

const require = createRequire(import.meta.url);
const pkg = require('../../package.json') as { version: string };
const started = Date.now();

export function healthRoutes(): RouteDef[] {
  return [
    {
      method: 'get', path: '/api/health', operationId: 'health', tag: 'health', access: 'public', cache: 'none',
      summary: 'The API process is up',
      async handler() {
        return { status: 'ok', version: pkg.version, uptime_seconds: Math.round((Date.now() - started) / 1000) };
      },
    },
    {
      method: 'get', path: '/api/ready', operationId: 'ready', tag: 'health', access: 'public', cache: 'none', errors: [503],
      summary: 'Ready to serve: the database answers and every migration is applied',
      description: 'Answers 503 with the same body shape when it is not ready (database unreachable or migrations pending).',
      async handler({ deps }) {
        const checks: { database: 'ok' | 'unreachable'; migrations: 'current' | 'pending' | 'unknown'; pending_migrations: string[]; timezone?: string } = {
          database: 'ok', migrations: 'unknown', pending_migrations: [],
        };
        try {
          await deps.db.pool.query('SELECT 1');
        } catch {
          checks.database = 'unreachable';
        }
        if (checks.database === 'ok') {
          try {
            const pending = await pendingMigrations(deps.db.knex);
            checks.pending_migrations = pending;
            checks.migrations = pending.length ? 'pending' : 'current';
          } catch {
            checks.migrations = 'unknown';
          }
        }
        checks.timezone = deps.config.timezone;
        const ready = checks.database === 'ok' && checks.migrations === 'current';
        return new Reply(ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', ...checks });
      },
    },
  ];
}
