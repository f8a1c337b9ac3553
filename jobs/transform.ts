/**
 * The one place jobs/ calls transform/: everything else goes through `applyTransforms`, so the transform
 * room can change its surface without touching the job handlers.
 */
import { errorMessage, type Database, type Logger } from '../core/index.js';
import { indexRaw } from '../ingest/index.js';
import { isTarget, replay, runTransforms } from '../transform/index.js';

export interface ApplyOptions {
  logger: Logger;
  timezone: string;
  signal?: AbortSignal;
}

/**
 * Applies the raw events landed since each target's watermark to its typed table, and recomputes the rollup
 * days those rows touch (the transform runner does both for a target). Unknown names are ignored.
 *
 * First brings the per-record index of raw (qbsync.raw_records, raw_record_events) up to date: every landing
 * queues a transform job, so a worker keeps the index a few pages behind raw at most, in batches, off the
 * landing path. A failure there is logged and does not stop the transforms (the index's readers catch up
 * themselves).
 */
export async function applyTransforms(db: Database, targets: readonly string[], opts: ApplyOptions): Promise<void> {
  try {
    await indexRaw(db.pool, opts.logger);
  } catch (err) {
    opts.logger.warn(`indexing raw failed: ${errorMessage(err)}; the transforms go on`);
  }
  const known = targets.filter(isTarget);
  if (!known.length) return;
  await runTransforms(db, { targets: known, logger: opts.logger, timezone: opts.timezone, signal: opts.signal });
}

/** Rebuilds the typed tables of these targets (all when empty) from raw and swaps them in (transform's replay). */
export async function replayTargets(db: Database, targets: readonly string[], opts: ApplyOptions): Promise<void> {
  const known = targets.filter(isTarget);
  await replay(db, { targets: known.length ? known : undefined, logger: opts.logger, timezone: opts.timezone, signal: opts.signal });
}
