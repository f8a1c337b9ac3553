/**
 * Body preparation on worker threads. Before a page's bodies are stored, each is turned into its canonical JSON and
 * hashed (canonical.ts). That is about a fifth of a full pass's JavaScript work, and it ran on the one thread that
 * also fetches, parses and lands: in bench/ingest, with Postgres and QBench given cores of their own, that thread
 * alone kept a landing at 1.5× the time of fetching. A pool of workers takes the response texts and returns the
 * prepared bodies (the same ones: the worker parses the same text and calls the same function), so the main thread
 * only fetches and lands.
 *
 * It pays only where there are cores to spare: on a machine whose cores the client, QBench and Postgres already keep
 * busy, the workers compete with them (and parse every body a second time). Hence the default (config.ts
 * QBSYNC_BODY_WORKERS): 2 workers from 4 cores up, none below.
 *
 * A worker that fails or exits rejects the jobs it held and the pool stops taking new ones; callers then prepare
 * bodies on the main thread (full-pass.ts), so a broken pool slows a sync down and never stops it.
 */
import { Worker } from 'node:worker_threads';
import type { PreparedBody } from './canonical.js';
import type { BodyJob, BodyReply } from './body-worker.js';

interface Pending {
  resolve: (bodies: PreparedBody[]) => void;
  reject: (err: Error) => void;
}

export class BodyPool {
  private readonly workers: Array<{ worker: Worker; pending: Map<number, Pending> }>;
  private nextId = 1;
  private broken: Error | null = null;
  /** Bodies the workers prepared so far (for the run's log). */
  prepared = 0;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`a body pool needs at least one worker (got ${size})`);
    this.workers = Array.from({ length: size }, () => {
      const worker = new Worker(new URL('./body-worker-entry.js', import.meta.url));
      const slot = { worker, pending: new Map<number, Pending>() };
      worker.on('message', (reply: BodyReply) => {
        const p = slot.pending.get(reply.id);
        slot.pending.delete(reply.id);
        if (reply.ok) {
          this.prepared += reply.bodies.length;
          p?.resolve(reply.bodies);
        } else {
          p?.reject(new Error(`body worker: ${reply.error}`));
        }
      });
      const fail = (err: Error) => {
        this.broken ??= err;
        for (const p of slot.pending.values()) p.reject(err);
        slot.pending.clear();
      };
      worker.on('error', (err) => fail(new Error(`body worker failed: ${err.message}`)));
      worker.on('exit', (code) => fail(new Error(`body worker stopped (exit code ${code})`)));
      // A sync's process must be able to exit even if close() is never reached.
      worker.unref();
      return slot;
    });
  }

  /** The prepared bodies of these response texts, in order. Rejects if the pool is broken or closed. */
  prepare(texts: string[]): Promise<PreparedBody[]> {
    if (this.broken) return Promise.reject(this.broken);
    if (texts.length === 0) return Promise.resolve([]);
    // The worker with the fewest jobs in hand.
    const slot = this.workers.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.nextId++;
    return new Promise<PreparedBody[]>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, texts } satisfies BodyJob);
    });
  }

  /** Stops the workers; jobs still in hand are rejected. */
  async close(): Promise<void> {
    this.broken ??= new Error('body pool closed');
    await Promise.all(this.workers.map((s) => s.worker.terminate()));
  }

  get size(): number {
    return this.workers.length;
  }

  /** For tests: the worker threads, to stop one as a crash would. */
  get threads(): readonly Worker[] {
    return this.workers.map((s) => s.worker);
  }
}
