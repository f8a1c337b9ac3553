import { runApiLoadScenario } from './api-load.js';
import { runShort } from './lib.js';

describe('chaos (short form): the API under load while a sync and replays run', function () {
  this.timeout(240_000);
  it('every response to the metric endpoints is 2xx (no errors, no timeouts); latency reported', async () => {
    await runShort(runApiLoadScenario, 5505);
  });
});
