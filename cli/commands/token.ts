import type { Command } from 'commander';
import { createApiToken, listTokens, revokeToken } from '../../api/index.js';
import { UsageError } from '../../core/index.js';
import { action, intArg } from '../run.js';

const iso = (d: Date | null) => (d ? d.toISOString().replace('.000Z', 'Z') : '-');

export function register(program: Command): void {
  const token = program.command('token').description('manage API tokens (Authorization: Bearer <token>)');
  token
    .command('create')
    .description('create an API token and print it once (only its hash is stored)')
    .requiredOption('--name <name>', 'what the token is for (shown in lists and logs)')
    .option('--admin', 'may enqueue syncs, replays and backfills')
    .option('--expires-days <n>', 'expire after this many days (default: never)', intArg('--expires-days', 1, 3650))
    .action(
      action(async (ctx, opts: { name: string; admin?: boolean; expiresDays?: number }) => {
        const name = opts.name.trim();
        if (!name || name.length > 100) throw new UsageError('--name must be 1 to 100 characters');
        const db = await ctx.db();
        const t = await createApiToken(db.pool, {
          name, admin: opts.admin, expiresAt: opts.expiresDays ? new Date(Date.now() + opts.expiresDays * 86_400_000) : null,
        });
        process.stderr.write(`created token ${t.tokenId} "${name}"${opts.admin ? ' (admin)' : ''}${t.expiresAt ? `, expires ${iso(t.expiresAt)}` : ''}; it is shown only now:\n`);
        process.stdout.write(`${t.token}\n`);
      }),
    );
  token
    .command('list')
    .description('list live API tokens (ids and names, never the tokens)')
    .option('--all', 'include revoked and expired tokens, and login tokens')
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, opts: { all?: boolean; json?: boolean }) => {
        const db = await ctx.db();
        const tokens = await listTokens(db.pool, { includeLogin: opts.all, includeRevoked: opts.all });
        if (opts.json) {
          process.stdout.write(JSON.stringify(tokens, null, 2) + '\n');
          return;
        }
        if (!tokens.length) process.stdout.write('no tokens: qbsync token create --name <name>\n');
        for (const t of tokens) {
          const state = t.revoked_at ? `revoked ${iso(t.revoked_at)}` : t.expires_at && t.expires_at < new Date() ? 'expired' : 'live';
          process.stdout.write(
            `${t.token_id}  ${t.kind.padEnd(5)} ${(t.is_admin ? 'admin' : 'read').padEnd(5)}  ${t.name.padEnd(28)} created ${iso(t.created_at)}  last used ${iso(t.last_used_at)}  ${state}\n`,
          );
        }
      }),
    );
  token
    .command('revoke <id>')
    .description('revoke a token by its id (or the token itself); effective on the next request')
    .action(
      action(async (ctx, id: string) => {
        const db = await ctx.db();
        if (!(await revokeToken(db.pool, id.trim()))) throw new UsageError(`no live token ${id.trim().slice(0, 24)}`);
        process.stdout.write('revoked\n');
      }),
    );
  for (const c of token.commands) c.exitOverride().showHelpAfterError('(run with --help for usage)');
}
