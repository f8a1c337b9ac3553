import { runPgRestartScenario } from './pg-restart.js';
import { runShort } from './lib.js';

describe('chaos (short form): Postgres restarts in the middle of a sync and of a replay', function () {
  this.timeout(240_000);
  it('the process reconnects and finishes or exits with one line; the next run completes with nothing lost', async () => {
    await runShort(runPgRestartScenario, 2202);
  });
});
