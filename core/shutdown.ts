/**
 * Graceful shutdown: handlers run in reverse order of registration (stop the API before the database
 * it reads) on SIGINT/SIGTERM, once. A second signal exits at once.
 */
type Handler = () => Promise<void> | void;
const handlers: Handler[] = [];
let installed = false;
let shuttingDown = false;

export function onShutdown(fn: Handler): () => void {
  handlers.push(fn);
  if (!installed) {
    installed = true;
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.on(sig, () => {
        if (shuttingDown) process.exit(130);
        void shutdown(sig === 'SIGINT' ? 130 : 143);
      });
    }
  }
  return () => {
    const i = handlers.indexOf(fn);
    if (i >= 0) handlers.splice(i, 1);
  };
}

export function isShuttingDown(): boolean {
  return shuttingDown;
}

export async function runShutdownHandlers(): Promise<void> {
  while (handlers.length) {
    const fn = handlers.pop()!;
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`error during shutdown: ${(err as Error).message}\n`);
    }
  }
}

export async function shutdown(code: number): Promise<never> {
  shuttingDown = true;
  await runShutdownHandlers();
  process.exit(code);
}
