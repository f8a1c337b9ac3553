import type { Command } from 'commander';
import { configDocs } from '../../core/index.js';
import { action } from '../run.js';

export function register(program: Command): void {
  program
    .command('config')
    .description('validate the configuration and print the effective values (secrets masked)')
    .option('--json', 'print JSON')
    .option('--docs', 'list every variable with its default and meaning')
    .action(
      action(async (ctx, opts: { json?: boolean; docs?: boolean }) => {
        if (opts.docs) {
          for (const d of configDocs()) process.stdout.write(`${d.name}${d.default !== undefined ? ` (default ${d.default})` : ''}\n    ${d.description}\n`);
          return;
        }
        const c = ctx.config;
        const shown = {
          database: c.databaseUrl ? c.databaseUrl.replace(/\/\/([^:@/]+):[^@]*@/, '//$1:***@') : `embedded PostgreSQL in ${c.dataDir}/pg`,
          qbench: c.qbench.baseUrl ?? 'built-in simulator',
          qbench_client_id: c.qbench.clientId,
          qbench_client_secret: '***',
          page_size: c.qbench.pageSize,
          rate_budget: `${c.qbench.rateLimit} requests / ${c.qbench.rateWindowSeconds} s`,
          api: `http://${c.api.host}:${c.api.port}`,
          timezone: c.timezone,
          sla_hours: c.slaHours,
          sync_cron: c.syncCron ?? null,
          log_level: c.logLevel,
          log_dir: c.logDir ?? null,
        };
        if (opts.json) process.stdout.write(JSON.stringify(shown, null, 2) + '\n');
        else for (const [k, v] of Object.entries(shown)) process.stdout.write(`${k.padEnd(22)} ${v}\n`);
      }),
    );
}
