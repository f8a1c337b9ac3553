/**
 * `qbsync start` (what `npm start` runs): the whole product in one process on embedded defaults —
 * Postgres (embedded unless DATABASE_URL), QBench (the simulator unless QBENCH_BASE_URL, its clock
 * ticking so the demo sees new data), a worker (syncs, transforms, schedules), the API and dashboard,
 * and a first sync (full the first time, incremental after). Prints the URL and an admin token.
 * Ctrl-C stops everything it started and keeps the data for the next start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { onShutdown, type Database } from '../../core/index.js';
import { startApiServer, createApiToken, verifyToken } from '../../api/index.js';
import { startWorker, enqueueSync } from '../../jobs/index.js';
import { PgRateBudget } from '../../ingest/pg-rate-budget.js';
import { runSimCommand } from '../../sim/cli.js';
import { registerSimulator } from '../qbench-source.js';
import { action, intArg, numberArg } from '../run.js';

/** The demo's admin token lives in QBSYNC_DATA_DIR/admin-token (mode 600) and is reused while it is valid. */
async function adminToken(db: Database, dataDir: string): Promise<{ token: string; created: boolean }> {
  const file = path.join(dataDir, 'admin-token');
  if (fs.existsSync(file)) {
    const token = fs.readFileSync(file, 'utf8').trim();
    const p = await verifyToken(db.pool, token).catch(() => undefined);
    if (p?.isAdmin) return { token, created: false };
  }
  const { token } = await createApiToken(db.pool, { name: 'qbsync start (local admin)', admin: true });
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, token + '\n', { mode: 0o600 });
  return { token, created: true };
}

export function register(program: Command): void {
  program
    .command('start')
    .description('start everything: database, QBench simulator (unless QBENCH_BASE_URL), a sync, the worker, the API and dashboard')
    .option('--port <n>', 'API port (overrides QBSYNC_API_PORT)', intArg('--port', 0, 65535))
    .addOption(new Option('--size <size>', 'simulator size (default QBSYNC_SIM_SIZE or small)').choices(['tiny', 'small', 'medium', 'large']))
    .option('--tick-hours <h>', 'simulated hours that pass every --tick-seconds (0 = frozen clock)', numberArg('--tick-hours', 0, 24 * 30), 1)
    .option('--tick-seconds <s>', 'how often the simulated clock ticks', numberArg('--tick-seconds', 1, 86400), 60)
    .option('--no-sync', 'do not start a sync at start')
    .option('--realistic', 'keep QBench\'s 300 requests / 60 s limit on the built-in simulator (a small first sync then takes ~3 min)')
    .addHelpText('after', `
Uses DATABASE_URL if set (else an embedded PostgreSQL under QBSYNC_DATA_DIR/pg) and QBENCH_BASE_URL with
QBENCH_CLIENT_ID / QBENCH_CLIENT_SECRET if set (else the built-in simulator). Data is kept between starts;
the next start syncs incrementally.`)
    .action(
      action(async (ctx, opts: { port?: number; size?: 'tiny' | 'small' | 'medium' | 'large'; tickHours: number; tickSeconds: number; sync: boolean; realistic?: boolean }) => {
        const { config, logger } = ctx;
        const say = (line: string) => process.stdout.write(line + '\n');
        const db = await ctx.db();
        say(`database: ${db.embedded ? `embedded PostgreSQL in ${path.join(config.dataDir, 'pg')} (port ${db.embedded.port})` : 'DATABASE_URL'}`);

        let baseUrl = config.qbench.baseUrl;
        if (!baseUrl) {
          const size = opts.size ?? config.sim.size;
          const sim = await runSimCommand({
            port: config.sim.port, size, seed: config.sim.seed, rateLimit: Boolean(opts.realistic), clientId: config.qbench.clientId, clientSecret: config.qbench.clientSecret,
            tickHours: opts.tickHours > 0 ? opts.tickHours : undefined, tickSeconds: opts.tickHours > 0 ? opts.tickSeconds : undefined,
            print: () => undefined, log: (l) => logger.debug(l),
          });
          const unregister = registerSimulator(config, sim.url);
          onShutdown(async () => {
            unregister();
            await sim.close();
          });
          baseUrl = sim.url;
          say(
            `QBench: built-in simulator (size ${size}, seed ${config.sim.seed}) at ${sim.url}` +
              `${opts.tickHours > 0 ? `, ${opts.tickHours} simulated hour(s) every ${opts.tickSeconds} s` : ''}` +
              `${opts.realistic ? ', rate limit 300 / 60 s' : ', no rate limit (--realistic to keep it)'}`,
          );
        } else {
          say(`QBench: ${baseUrl}`);
        }

        // Against the demo simulator without its limit, don't pace the demo at QBench's budget.
        const unpaced = !config.qbench.baseUrl && !opts.realistic;
        const rateBudget = unpaced ? new PgRateBudget(db.pool, { limit: 1_000_000, windowMs: 60_000, key: 'simulator' }) : undefined;
        const worker = await startWorker({ db, config, logger, baseUrl, installSignalHandlers: false, rateBudget, stopGraceMs: 3000 });
        onShutdown(() => worker.stop());
        onShutdown(() => {
          say('\nstopping: finishing the page in flight, then the API, the worker, the simulator and the database (Ctrl-C again to force)');
        });
        const server = await startApiServer({ db, config, logger, boss: worker.boss }, { port: opts.port });
        onShutdown(() => server.stop());
        const { token, created } = await adminToken(db, config.dataDir);

        if (opts.sync) {
          const run = await enqueueSync(db, worker.boss, { mode: 'incremental', requestedBy: 'start' });
          say(`sync: run ${run.runId} queued (the first sync of an empty warehouse is a full one; follow it on the dashboard or with \`npx qbsync status\`)`);
        }
        say('');
        say(`  Dashboard: ${server.url}/`);
        say(`  API docs:  ${server.url}/api/docs`);
        say(`  Admin token${created ? ' (new)' : ''}: ${token}`);
        say(`  (also in ${path.join(config.dataDir, 'admin-token')}; paste it into the dashboard, or send it as "Authorization: Bearer …")`);
        say('');
        say('Press Ctrl-C to stop; the data stays for the next start.');
        await new Promise<void>(() => undefined); // until SIGINT/SIGTERM: core/shutdown stops API, worker, simulator, database
      }),
    );
}
