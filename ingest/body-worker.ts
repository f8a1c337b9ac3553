/**
 * A body-preparation worker (see body-pool.ts): parses each response text it is sent and prepares it exactly as the
 * landing would on the main thread (canonical.ts prepareBody), so the content address is the same either way.
 */
import { parentPort } from 'node:worker_threads';
import { prepareBody, type PreparedBody } from './canonical.js';

export interface BodyJob {
  id: number;
  texts: string[];
}
export type BodyReply = { id: number; ok: true; bodies: PreparedBody[] } | { id: number; ok: false; error: string };

parentPort!.on('message', (job: BodyJob) => {
  let reply: BodyReply;
  try {
    reply = { id: job.id, ok: true, bodies: job.texts.map((t) => prepareBody(JSON.parse(t))) };
  } catch (err) {
    reply = { id: job.id, ok: false, error: (err as Error).message };
  }
  parentPort!.postMessage(reply);
});
