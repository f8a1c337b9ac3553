/**
 * mocha global fixture (loaded through .mocharc.json `require`): one PostgreSQL server for the run.
 */
import { startTestServer, stopTestServer } from './helpers/pg.js';

export async function mochaGlobalSetup(): Promise<void> {
  await startTestServer();
}

export async function mochaGlobalTeardown(): Promise<void> {
  await stopTestServer();
}
