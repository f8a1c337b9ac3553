/** Public surface of jobs: the pg-boss worker, transactional enqueue helpers, and the sync schedule. */
export { startWorker, type Worker, type WorkerOptions } from './worker.js';
export {
  enqueueSync, enqueueBackfill, enqueueBackfillFinalize, enqueueTransform, enqueueReplay, sendChunkJobs,
  type EnqueueSyncRequest, type EnqueueSyncResult, type EnqueueBackfillResult, type EnqueueBackfillRequest, type ReplayJobData,
  type SyncJobData, type BackfillJobData, type BackfillChunkJobData, type TransformJobData,
} from './enqueue.js';
export { setSyncSchedule, clearSyncSchedule, getSyncSchedule, SCHEDULE_KEY, type SyncSchedule } from './schedule.js';
export { applyTransforms, replayTargets } from './transform.js';
