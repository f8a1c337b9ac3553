import type { Command } from 'commander';
import { startApiServer } from '../../api/index.js';
import { startBoss } from '../../core/boss.js';
import { onShutdown } from '../../core/index.js';
import { action, hostArg, intArg } from '../run.js';

export function register(program: Command): void {
  program
    .command('api')
    .description('serve the reporting API (metrics, analytics, entities, sync control, /metrics, /api/docs)')
    .option('--port <port>', 'port (overrides QBSYNC_API_PORT)', intArg('--port', 0, 65535))
    .option('--host <host>', 'interface to bind (overrides QBSYNC_API_HOST)', hostArg('--host'))
    .action(
      action(async (ctx, opts: { port?: number; host?: string }) => {
        const db = await ctx.db();
        // The API only enqueues: no scheduling, no maintenance (the worker does those).
        const boss = await startBoss(db.url, ctx.logger, { schedule: false, supervise: false });
        onShutdown(() => boss.stop({ graceful: true, wait: true, timeout: 5000 }));
        const server = await startApiServer({ db, config: ctx.config, logger: ctx.logger, boss }, { host: opts.host, port: opts.port });
        onShutdown(() => server.stop());
        ctx.logger.info('api listening', { url: server.url, docs: `${server.url}/api/docs` });
        process.stderr.write(`qbsync api listening on ${server.url} (docs: ${server.url}/api/docs)\n`);
        await new Promise<void>(() => undefined); // until SIGINT/SIGTERM (core/shutdown runs the handlers)
      }),
    );
}
