import { runKillScenario } from './kills.js';
import { runShort } from './lib.js';

describe('chaos (short form): kill -9 the sync, the worker and the transform at random points', function () {
  this.timeout(240_000);
  it('finished after the kills, every typed table equals an uninterrupted run, no page landed twice, every backfill chunk done once', async () => {
    await runShort(runKillScenario, 1101);
  });
});
