/**
 * Public surface of transform: raw events → typed tables (schema `qbench`) and daily rollups, incrementally by
 * watermark or by a full replay swapped in atomically; and the reports over them. See transform/README.md.
 */
export { runTransforms, replay, type TransformOptions, type TransformResult, type ReplayResult } from './replay.js';
export { orphans, drift, tableChecksums, transformStatus, type Orphan, type OrphanReport, type DriftEntity, type DriftKey, type ParseErrorSummary, type TableChecksum, type WatermarkRow } from './reports.js';
export { TARGETS, ROLLUPS, LIVE_SCHEMA, NEXT_SCHEMA, KNOWN_KEYS, parseTarget, isTarget, type Target, type Rollup } from './targets.js';
export type { TargetStats, TransformMode } from './runner.js';
