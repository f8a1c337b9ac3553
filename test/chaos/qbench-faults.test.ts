import { runQBenchFaultScenario } from './qbench-faults.js';
import { runShort } from './lib.js';

describe('chaos (short form): QBench answers 5xx, 429, hangs and garbage for a while', function () {
  this.timeout(240_000);
  it('runs back off, report what happened and resume when QBench recovers; nothing crashes, nothing is lost', async () => {
    await runShort(runQBenchFaultScenario, 3303);
  });
});
