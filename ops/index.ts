/** Operations: doctor, backup/restore, alerts, raw retention. Imports core, ingest and transform; used by cli and jobs. */
export { runDoctor, formatDoctor, nonDefaultValues, maskValue, worstPer60s, type Check, type DoctorReport, type DoctorDeps, type Verdict, type QBenchTarget } from './doctor.js';
export { backupDatabase, restoreDatabase, checkBackupFile, BACKUP_SCHEMAS, type BackupResult, type RestoreResult, type CheckResult } from './backup.js';
export { Alerter, createAlerter, webhookHost, type AlertMessage, type AlertEvent, type AlertSeverity, type AlerterOptions, type DeliveryResult } from './alerts.js';
export { rawStats, pruneRaw, type RawStats, type RawStatsRow, type PruneOptions, type PruneResult, type PruneEntityRow } from './raw.js';
