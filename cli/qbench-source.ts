/**
 * Where QBench is: QBENCH_BASE_URL when set; otherwise the simulator that `qbsync start` (or
 * `qbsync sim`) registered in QBSYNC_DATA_DIR/sim.json if it still answers; otherwise a simulator
 * started in this process (size QBSYNC_SIM_SIZE, seed QBSYNC_SIM_SEED) for the command's lifetime.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config, Logger } from '../core/index.js';
import { startSimulator } from '../sim/index.js';

export interface QBenchSource {
  baseUrl: string;
  simulated: boolean;
  close(): Promise<void>;
}

export function simStateFile(config: Config): string {
  return path.join(config.dataDir, 'sim.json');
}

export function registerSimulator(config: Config, url: string): () => void {
  fs.mkdirSync(config.dataDir, { recursive: true });
  const file = simStateFile(config);
  fs.writeFileSync(file, JSON.stringify({ url, pid: process.pid, started_at: new Date().toISOString() }) + '\n');
  return () => {
    try {
      const cur = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid?: number };
      if (cur.pid === process.pid) fs.rmSync(file, { force: true });
    } catch {
      /* already gone */
    }
  };
}

async function registeredSimulator(config: Config): Promise<string | undefined> {
  try {
    const { url } = JSON.parse(fs.readFileSync(simStateFile(config), 'utf8')) as { url: string };
    const res = await fetch(`${url}/_sim/now`, { signal: AbortSignal.timeout(1000) });
    return res.ok ? url : undefined;
  } catch {
    return undefined;
  }
}

export async function resolveQBench(config: Config, logger: Logger): Promise<QBenchSource> {
  if (config.qbench.baseUrl) return { baseUrl: config.qbench.baseUrl, simulated: false, close: async () => undefined };
  const running = await registeredSimulator(config);
  if (running) {
    logger.info(`QBENCH_BASE_URL not set: using the running simulator at ${running}`);
    return { baseUrl: running, simulated: true, close: async () => undefined };
  }
  const sim = await startSimulator({
    size: config.sim.size, seed: config.sim.seed, clientId: config.qbench.clientId, clientSecret: config.qbench.clientSecret, port: config.sim.port,
  });
  logger.info(`QBENCH_BASE_URL not set: started the built-in simulator (size ${config.sim.size}, seed ${config.sim.seed}) at ${sim.url}`);
  return { baseUrl: sim.url, simulated: true, close: () => sim.close() };
}
