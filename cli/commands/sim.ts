import { Option, type Command } from 'commander';
import { onShutdown } from '../../core/index.js';
import { runSimCommand } from '../../sim/cli.js';
import { action, hostArg, intArg, numberArg } from '../run.js';

interface SimFlags {
  port?: number;
  host: string;
  size?: 'tiny' | 'small' | 'medium' | 'large';
  seed?: number;
  rateLimit: boolean;
  errorRate?: number;
  latencyMs?: number;
  dropRate?: number;
  hangRate?: number;
  malformedRate?: number;
  badTestPageRate?: number;
  tokenLifetime?: number;
  tickHours?: number;
  tickSeconds?: number;
}

export function register(program: Command): void {
  program
    .command('sim')
    .description('serve the QBench API simulator on 127.0.0.1 (credentials from QBENCH_CLIENT_ID / QBENCH_CLIENT_SECRET)')
    .option('--port <n>', 'port to listen on (0 = any free port; default QBSYNC_SIM_PORT or 0)', intArg('--port', 0, 65535))
    .option('--host <host>', 'interface to bind', hostArg('--host'), '127.0.0.1')
    .addOption(new Option('--size <size>', 'data set size (default QBSYNC_SIM_SIZE or small)').choices(['tiny', 'small', 'medium', 'large']))
    .option('--seed <n>', 'data generator seed (default QBSYNC_SIM_SEED or 42)', intArg('--seed', 0, 4294967295))
    .option('--no-rate-limit', 'do not enforce 300 requests / 60 s (benchmarks)')
    .option('--error-rate <fraction>', 'fraction of API requests answered with 5xx', numberArg('--error-rate', 0, 1))
    .option('--latency-ms <ms>', 'added latency per API request', intArg('--latency-ms', 0, 600000))
    .option('--drop-rate <fraction>', 'fraction of requests whose connection is dropped', numberArg('--drop-rate', 0, 1))
    .option('--hang-rate <fraction>', 'fraction of requests that never answer', numberArg('--hang-rate', 0, 1))
    .option('--malformed-rate <fraction>', 'fraction of 200 responses with a malformed body', numberArg('--malformed-rate', 0, 1))
    .option('--bad-test-page-rate <fraction>', 'fraction of test list pages answering 400', numberArg('--bad-test-page-rate', 0, 1))
    .option('--token-lifetime <seconds>', 'access token lifetime', intArg('--token-lifetime', 1, 86400))
    .option('--tick-hours <hours>', 'advance the simulated clock by this many hours every --tick-seconds', numberArg('--tick-hours', 0, 24 * 365))
    .option('--tick-seconds <seconds>', 'how often the clock ticks (with --tick-hours)', numberArg('--tick-seconds', 0.1, 86400))
    .action(
      action(async (ctx, flags: SimFlags) => {
        const sim = await runSimCommand({
          port: flags.port ?? ctx.config.sim.port,
          host: flags.host,
          size: flags.size ?? ctx.config.sim.size,
          seed: flags.seed ?? ctx.config.sim.seed,
          clientId: ctx.config.qbench.clientId,
          clientSecret: ctx.config.qbench.clientSecret,
          rateLimit: flags.rateLimit,
          errorRate: flags.errorRate,
          latencyMs: flags.latencyMs,
          dropRate: flags.dropRate,
          hangRate: flags.hangRate,
          malformedRate: flags.malformedRate,
          badTestPageRate: flags.badTestPageRate,
          tokenLifetimeSeconds: flags.tokenLifetime,
          tickHours: flags.tickHours,
          tickSeconds: flags.tickSeconds,
        });
        await new Promise<void>((resolve) => onShutdown(async () => {
          await sim.close();
          resolve();
        }));
      }),
    );
}
