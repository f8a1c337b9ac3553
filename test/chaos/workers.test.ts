import { runWorkersScenario } from './workers.js';
import { runShort } from './lib.js';

describe('chaos (short form): three workers on one sync and one backfill', function () {
  this.timeout(300_000);
  it('no duplicate work and the shared rate budget held (no window over it, zero 429s)', async () => {
    await runShort(runWorkersScenario, 4404);
  });
});
