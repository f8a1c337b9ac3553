export { loadConfig, secretsOf, configDocs, type Config, type SimSize, type LogLevel } from './config.js';
export { QbsyncError, ConfigError, UsageError, errorMessage } from './errors.js';
export { createLogger, newRunId, type Logger } from './logger.js';
export { redact, redactString, registerSecret } from './redact.js';
export { openDatabase, connect, guardCheckedOutClients, migrate, pendingMigrations, resolveDatabaseUrl, createKnex, MIGRATIONS_DIR, type Database, type OpenOptions } from './database.js';
export { startEmbeddedPostgres, type EmbeddedPg } from './embedded-pg.js';
export { onShutdown, shutdown, isShuttingDown, runShutdownHandlers } from './shutdown.js';
