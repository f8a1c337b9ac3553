/**
 * What a sync reports as it goes. The CLI draws progress bars from it on a TTY; the API exposes the
 * same numbers from qbsync.sync_run_entities. Ingest code only calls these hooks.
 */
import type { EntityName } from './entities.js';

export interface ProgressSink {
  entityStarted(entity: EntityName, info: { startPage: number; totalPages: number | null; mode: string }): void;
  pageLanded(entity: EntityName, info: { page: number; totalPages: number | null; records: number; pagesDone: number; recordsDone: number }): void;
  entityFinished(entity: EntityName, info: { status: string; pages: number; records: number; error?: string }): void;
}

export const silentProgress: ProgressSink = {
  entityStarted() {},
  pageLanded() {},
  entityFinished() {},
};
