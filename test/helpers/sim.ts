/** Starts simulators for tests with the test credentials; closes them after. */
import { startSimulator, type SimOptions, type Simulator } from '../../sim/index.js';

export const TEST_CLIENT_ID = 'qbsync-test-client';
export const TEST_CLIENT_SECRET = 'test-secret-5f1c9e2b7a';

export async function testSimulator(opts: Partial<SimOptions> = {}): Promise<Simulator> {
  return startSimulator({ size: 'tiny', seed: 7, clientId: TEST_CLIENT_ID, clientSecret: TEST_CLIENT_SECRET, rateLimit: { enabled: false }, ...opts });
}

/** Environment for a child `qbsync` process pointed at a test database and simulator. */
export function cliEnv(databaseUrl: string, sim: Simulator, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: databaseUrl,
    QBENCH_BASE_URL: sim.url,
    QBENCH_CLIENT_ID: TEST_CLIENT_ID,
    QBENCH_CLIENT_SECRET: TEST_CLIENT_SECRET,
    QBSYNC_LOG_LEVEL: 'info',
    // The test simulators run with their rate limit off; don't let the client's budget pace the tests.
    QBENCH_RATE_LIMIT: '1000000',
    ...extra,
  };
}
