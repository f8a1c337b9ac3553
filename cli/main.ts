/**
 * `qbsync`: the command line. Thin: each command parses its flags and calls into ingest, transform,
 * api or sim. Exit codes: 0 success, 1 failure, 2 usage or configuration error.
 */
import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { register as registerMigrate } from './commands/migrate.js';
import { register as registerSim } from './commands/sim.js';
import { register as registerConfig } from './commands/config.js';
import { register as registerSync } from './commands/sync.js';
import { register as registerStatus } from './commands/status.js';
import { register as registerTransform } from './commands/transform.js';
import { register as registerBackfill } from './commands/backfill.js';
import { register as registerWorker } from './commands/worker.js';
import { register as registerSchedule } from './commands/schedule.js';
import { register as registerResetWatermark } from './commands/reset-watermark.js';
import { register as registerApi } from './commands/api.js';
import { register as registerUser } from './commands/user.js';
import { register as registerToken } from './commands/token.js';
import { register as registerDoctor } from './commands/doctor.js';
import { register as registerBackup } from './commands/backup.js';
import { register as registerRaw } from './commands/raw.js';
import { register as registerStart } from './commands/start.js';
import { elideLines } from './run.js';

const require = createRequire(import.meta.url);
const pkg = require('../package.json') as { version: string };

export function buildProgram(): Command {
  const program = new Command('qbsync')
    .description('Keep a lab\'s QBench LIMS data in PostgreSQL: immutable raw landing, SQL transforms, replay, backfill and a metrics API.')
    .version(pkg.version, '-V, --version')
    .addOption(new Option('--log-level <level>', 'log verbosity (overrides QBSYNC_LOG_LEVEL)').choices(['error', 'warn', 'info', 'debug']))
    .showHelpAfterError('(run with --help for usage)')
    // Set before the commands are added, so every subcommand inherits it.
    .configureOutput({ outputError: (str, write) => write(elideLines(str)) })
    .exitOverride();
  registerStart(program);
  registerConfig(program);
  registerMigrate(program);
  registerSync(program);
  registerStatus(program);
  registerTransform(program);
  registerBackfill(program);
  registerWorker(program);
  registerSchedule(program);
  registerResetWatermark(program);
  registerApi(program);
  registerUser(program);
  registerToken(program);
  registerDoctor(program);
  registerBackup(program);
  registerRaw(program);
  registerSim(program);
  // Every subcommand reports usage errors with exit code 2 instead of commander's default 1.
  for (const cmd of program.commands) cmd.exitOverride().showHelpAfterError('(run with --help for usage)');
  return program;
}

// `qbsync status | head`: the reader going away is not a failure; keep going quietly so the command
// still runs its shutdown (e.g. stops the embedded Postgres it started).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
      process.exitCode = ok ? 0 : 2;
      return;
    }
    throw err;
  }
}

await main(process.argv);
