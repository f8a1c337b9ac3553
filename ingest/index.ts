/** Public surface of ingest: the QBench client, landing, and sync runs. */
export { ENTITIES, ENTITY_NAMES, parseEntityName, entityInfo, type EntityName, type EntityInfo } from './entities.js';
export { QBenchClient, MemoryRateBudget, type RateBudget, type ClientEvent } from './client/index.js';
export { makeClient, type MakeClientOptions } from './make-client.js';
export { runSync, orderEntities, type SyncRequest, type SyncDeps, type SyncOutcome, type SyncMode, type EntityOutcome } from './sync.js';
export { SyncBusyError, acquireSyncLock } from './sync-lock.js';
export { listRuns, getRun, createRun, type RunRow, type RunStatus, type RunMode } from './run-history.js';
export { listCheckpoints, listWatermarks, setWatermark, getWatermark, type Checkpoint, type Watermark } from './checkpoints.js';
export { prepareBody, canonicalJson } from './canonical.js';
export { insertEvents, inTransaction, type RawEvent } from './landing.js';
export { silentProgress, type ProgressSink } from './progress.js';
export { RequestCounter } from './request-counter.js';
export { OVERLAP_MS } from './incremental.js';
