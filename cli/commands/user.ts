import type { Command } from 'commander';
import { addUser, listUsers, removeUser, setAdmin, setPassword, unlockUser } from '../../api/index.js';
import { action } from '../run.js';
import { readPassword } from './password-input.js';

const iso = (d: Date | null) => (d ? d.toISOString().replace('.000Z', 'Z') : '-');

export function register(program: Command): void {
  const user = program.command('user').description('manage the users who log in to the API (POST /api/auth/login)');
  user
    .command('add <username>')
    .description('add a user; the password is asked for (or read with --password-stdin), never taken from the command line')
    .option('--admin', 'may enqueue syncs, replays and backfills')
    .option('--password-stdin', 'read the password from standard input')
    .action(
      action(async (ctx, username: string, opts: { admin?: boolean; passwordStdin?: boolean }) => {
        const password = await readPassword({ passwordStdin: opts.passwordStdin, confirm: true });
        const db = await ctx.db();
        const u = await addUser(db.pool, username, password, { admin: opts.admin });
        process.stdout.write(`added user ${u.username}${u.is_admin ? ' (admin)' : ''}\n`);
      }),
    );
  user
    .command('passwd <username>')
    .description('set a new password (also unlocks the account and signs out its login tokens)')
    .option('--password-stdin', 'read the password from standard input')
    .action(
      action(async (ctx, username: string, opts: { passwordStdin?: boolean }) => {
        const password = await readPassword({ passwordStdin: opts.passwordStdin, confirm: true });
        const db = await ctx.db();
        await setPassword(db.pool, username, password);
        process.stdout.write(`password of ${username} changed\n`);
      }),
    );
  user
    .command('remove <username>')
    .description('remove a user (their login tokens stop working at once)')
    .action(
      action(async (ctx, username: string) => {
        const db = await ctx.db();
        await removeUser(db.pool, username);
        process.stdout.write(`removed user ${username}\n`);
      }),
    );
  user
    .command('admin <username> <on|off>')
    .description('grant or take away admin rights')
    .action(
      action(async (ctx, username: string, value: string) => {
        if (!['on', 'off'].includes(value)) {
          process.stderr.write(`qbsync: the second argument must be on or off (got "${value.slice(0, 40)}")\n`);
          return 2;
        }
        const db = await ctx.db();
        await setAdmin(db.pool, username, value === 'on');
        process.stdout.write(`${username} is ${value === 'on' ? 'now' : 'no longer'} an admin\n`);
      }),
    );
  user
    .command('unlock <username>')
    .description('clear a lockout after repeated failed logins')
    .action(
      action(async (ctx, username: string) => {
        const db = await ctx.db();
        await unlockUser(db.pool, username);
        process.stdout.write(`unlocked ${username}\n`);
      }),
    );
  user
    .command('list')
    .description('list users')
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, opts: { json?: boolean }) => {
        const db = await ctx.db();
        const users = await listUsers(db.pool);
        if (opts.json) {
          process.stdout.write(JSON.stringify(users, null, 2) + '\n');
          return;
        }
        if (!users.length) process.stdout.write('no users yet: qbsync user add <name>\n');
        for (const u of users) {
          const locked = u.locked_until && u.locked_until > new Date() ? `  locked until ${iso(u.locked_until)}` : '';
          process.stdout.write(`${u.username.padEnd(24)} ${u.is_admin ? 'admin' : 'user '}  last login ${iso(u.last_login_at)}${locked}\n`);
        }
      }),
    );
  for (const c of user.commands) c.exitOverride().showHelpAfterError('(run with --help for usage)');
}
