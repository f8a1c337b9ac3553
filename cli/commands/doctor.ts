import type { Command } from 'commander';
import {
  ConfigError, createLogger, loadConfig, onShutdown, openDatabase, registerSecret, runShutdownHandlers, type Config, type Database,
} from '../../core/index.js';
import { readDotEnv } from '../../core/config.js';
import { runDoctor, formatDoctor } from '../../ops/index.js';
import { resolveQBench } from '../qbench-source.js';
import { fail, globalLogLevel } from '../run.js';

export function register(program: Command): void {
  program
    .command('doctor')
    .description('check the configuration, the database, QBench (reachability, credentials, clock) and the rate budget')
    .option('--json', 'print the checks as JSON')
    .addHelpText('after', `
Checks (each prints ok, warn or fail, and what to do):
  configuration  validates; lists the values that differ from the defaults (secrets masked)
  database       reachable, server version, migrations applied (none is applied by doctor)
  qbench         a token request and one tiny list request (the simulator when QBENCH_BASE_URL is unset)
  clock          skew against QBench's Date header (warn beyond 30 s) and the database's clock
  rate budget    QBENCH_RATE_LIMIT / QBENCH_RATE_WINDOW_SECONDS against QBench's 300 per 60 s; 429s in the last 24 h
  sync           stale watermarks, stuck queued or silent running runs
  alerts         where alerts go

Exit codes: 0 nothing failed (warnings allowed), 1 something failed.`)
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      // Not wrapped in action(): a bad configuration is a failed check here, reported like the others.
      let code = 0;
      try {
        const env = { ...readDotEnv(), ...process.env };
        let config: Config | undefined;
        let problems: string[] | undefined;
        try {
          config = loadConfig(env);
          registerSecret(config.qbench.clientSecret);
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          problems = err.problems;
        }
        const logger = createLogger({ level: globalLogLevel(cmd) ?? 'warn', logDir: config?.logDir });
        let db: Database | undefined;
        const report = await runDoctor({
          config, configProblems: problems, env, logger,
          openDb: async () => {
            db = await openDatabase(config!, logger, { migrate: false, poolMax: 3, appName: 'qbsync-doctor' });
            const opened = db;
            onShutdown(() => opened.close());
            return opened;
          },
          qbench: async () => {
            const source = await resolveQBench(config!, logger);
            onShutdown(() => source.close());
            return source;
          },
        });
        if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
        else process.stdout.write(formatDoctor(report));
        code = report.ok ? 0 : 1;
      } catch (err) {
        code = fail(err);
      }
      await runShutdownHandlers();
      process.exitCode = code;
    });
}
