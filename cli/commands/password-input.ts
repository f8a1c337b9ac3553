/**
 * Reads a password without it ever being a command-line argument: from a terminal prompt (not echoed) or,
 * with --password-stdin, from standard input (first line). Scripts: `printf %s "$PW" | qbsync user add ann --password-stdin`.
 */
import { UsageError } from '../../core/index.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0];
}

function prompt(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    let value = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const onData = (ch: string) => {
      for (const c of ch) {
        if (c === '\r' || c === '\n' || c === '\u0004') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          resolve(value);
          return;
        }
        if (c === '\u0003') {
          stdin.setRawMode(false);
          stdin.off('data', onData);
          reject(new UsageError('cancelled'));
          return;
        }
        if (c === '\u007f' || c === '\b') value = value.slice(0, -1);
        else value += c;
      }
    };
    stdin.on('data', onData);
  });
}

export async function readPassword(opts: { passwordStdin?: boolean; confirm?: boolean }): Promise<string> {
  if (opts.passwordStdin) return readStdin();
  if (!process.stdin.isTTY) throw new UsageError('no terminal to ask for the password: pipe it in with --password-stdin');
  const pw = await prompt('Password: ');
  if (opts.confirm) {
    const again = await prompt('Repeat password: ');
    if (again !== pw) throw new UsageError('the passwords do not match');
  }
  return pw;
}
