/** Public surface of ingest: the QBench client, landing, and sync runs. */
export { ENTITIES, ENTITY_NAMES, parseEntityName, entityInfo, type EntityName, type EntityInfo } from './entities.js';
export { QBenchClient, MemoryRateBudget, type RateBudget, type ClientEvent } from './client/index.js';
export { makeClient, type MakeClientOptions } from './make-client.js';
export { runSync, orderEntities, type SyncRequest, type SyncDeps, type SyncOutcome, type SyncMode, type EntityOutcome } from './sync.js';
export { SyncBusyError, SyncLockLostError, acquireSyncLock, syncLockHeld, type SyncLock } from './sync-lock.js';
export { listRuns, getRun, createRun, finishRun, markRunStarted, type RunRow, type RunStatus, type RunMode } from './run-history.js';
export { listCheckpoints, listWatermarks, setWatermark, getWatermark, type Checkpoint, type Watermark } from './checkpoints.js';
export { prepareBody, canonicalJson } from './canonical.js';
export { insertEvents, inTransaction, type RawEvent } from './landing.js';
export { silentProgress, type ProgressSink } from './progress.js';
export { RequestCounter } from './request-counter.js';
export { OVERLAP_MS } from './incremental.js';
export { PgRateBudget, type PgRateBudgetOptions } from './pg-rate-budget.js';
export {
  planBackfill, runChunk, finalizeBackfill, computeVolumetry, formatVolumetry, getBackfill, listBackfills, claimableChunks,
  orphanedChunks, unfinalizedBackfills, splitRange, chunkLabel, orderBackfillEntities, parseQBenchDate,
  DEFAULT_BACKFILL_ENTITIES, DEFAULT_CHUNK_DAYS, MAX_CHUNK_FAILURES,
  type BackfillRequest, type BackfillRow, type ChunkRow, type PlanResult, type ChunkDeps, type ChunkOutcome, type ChunkState,
  type Volumetry, type EntityVolumetry, type FinalizeResult,
} from './backfill.js';
export { recoverParents, recoveryLog, PARENT_LINKS, type RecoveryOptions, type RecoveryResult, type RecoveryFailure } from './parents.js';
export { getCheckpoint } from './checkpoints.js';
export { resetWatermark, type ResetOutcome } from './reset.js';
export { indexRaw, rebuildRawIndex, rawIndexLag, type IndexResult } from './raw-index.js';
