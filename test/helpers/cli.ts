/** Runs the real `qbsync` CLI in a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { recordCliRun } from './secret-sweep.js';

export const BIN = path.resolve('bin/qbsync.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `input`: written to the child's standard input (e.g. for --password-stdin); otherwise stdin is closed. */
export function startCli(args: string[], env: NodeJS.ProcessEnv, opts: { input?: string } = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (opts.input !== undefined) {
    child.stdin!.on('error', () => undefined); // the child may exit before reading it
    child.stdin!.end(opts.input);
  }
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c) => (stdout += c));
  child.stderr!.on('data', (c) => (stderr += c));
  const done = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => {
      recordCliRun(args, env, { stdout, stderr }); // the suite-wide secret sweep (test/helpers/secret-sweep.ts)
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { child, done };
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME }, opts: { input?: string } = {}): Promise<CliResult> {
  return startCli(args, env, opts).done;
}
