/**
 * Errors that carry the process exit code the CLI should use.
 * 2 = the user asked for something invalid (usage, configuration); 1 = the operation failed.
 * Messages are written for a person: one line, naming what is wrong, never a stack trace.
 */
export class QbsyncError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad configuration: each problem is one line naming the variable. */
export class ConfigError extends QbsyncError {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, 2);
  }
}

/** Bad command-line input or API parameters. */
export class UsageError extends QbsyncError {
  constructor(message: string) {
    super(message, 2);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
