/**
 * `qbsync reset-watermark`: move an entity's incremental position by hand, under the sync lock (a sync in
 * flight would otherwise find its checkpoint moved under it).
 *
 * - forget (default): the watermark and the full-pass checkpoint are removed, so the next sync runs a full
 *   pass of the entity (and sets a fresh watermark when it completes);
 * - to a date: the watermark is set to that instant (source 'reset'); the next incremental asks QBench for
 *   what changed since then (minus the usual overlap). If the entity never completed a full pass, the next
 *   sync still does one first.
 */
import type { Database } from '../core/database.js';
import type { EntityName } from './entities.js';
import { acquireSyncLock } from './sync-lock.js';
import { getCheckpoint, getWatermark, setWatermark, type Checkpoint, type Watermark } from './checkpoints.js';

export interface ResetOutcome {
  entity: EntityName;
  before: Watermark | undefined;
  after: Watermark | undefined;
  checkpoint: Checkpoint | undefined;
  /** What the next `qbsync sync` will do for the entity. */
  next: 'full' | 'incremental';
}

export async function resetWatermark(db: Database, entities: readonly EntityName[], opts: { to?: Date; wait?: boolean } = {}): Promise<ResetOutcome[]> {
  const lock = await acquireSyncLock(db.pool, { wait: opts.wait });
  try {
    const out: ResetOutcome[] = [];
    for (const entity of entities) {
      const before = await getWatermark(db.pool, entity);
      if (opts.to) {
        await setWatermark(db.pool, entity, opts.to, 'reset', null);
      } else {
        await db.pool.query(`DELETE FROM qbsync.watermarks WHERE entity = $1`, [entity]);
        await db.pool.query(`DELETE FROM qbsync.checkpoints WHERE entity = $1`, [entity]);
      }
      const checkpoint = await getCheckpoint(db.pool, entity);
      const after = await getWatermark(db.pool, entity);
      out.push({ entity, before, after, checkpoint, next: checkpoint?.status === 'completed' && after ? 'incremental' : 'full' });
    }
    return out;
  } finally {
    await lock.release();
  }
}
