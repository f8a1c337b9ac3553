/**
 * "No secret anywhere": a mocha root hook plugin (.mocharc.json `require`) plus the capture it sweeps.
 *
 * What is captured, for the whole run:
 * - every `qbsync` child process the test helpers start (test/helpers/cli.ts): stdout and stderr;
 * - every line a winston logger of this process writes to a stream or the console (the transports are tee'd
 *   here when this module loads: test loggers built with `createLogger({ stream })`, the API fixture's, …);
 * - whatever a test hands to `captureText()` (the security suite: API answers, raw rows, error messages).
 *
 * What is searched for:
 * - registered secrets: the QBench client secret of the test helpers, the password of the test database
 *   URL, every QBENCH_CLIENT_SECRET and DATABASE_URL password a CLI child is given, every token a
 *   `qbsync token create` / `qbsync start` prints, and whatever a test passes to `registerTestSecret()`;
 * - shapes: qbsync bearer tokens (`qbs_…`/`qbl_…`), JWTs, `Bearer <value>` and `user:password@` in URLs.
 *
 * A secret may appear where it is issued (the stdout of `qbsync token create`, a login answer) and nowhere
 * else. Each capture is searched for the secrets known when it arrives, and each secret registered later is
 * searched for in everything captured before; the root `afterAll` hook fails the run listing every place a
 * secret was found. Values shorter than 8 characters are not registered (they would match ordinary text).
 */
import winston from 'winston';
import { TEST_CLIENT_SECRET } from './sim.js';

export interface Finding {
  secret: string;
  place: string;
  excerpt: string;
}

interface Capture {
  place: string;
  text: string;
  /** Secrets issued here (allowed in this capture only). */
  issued: Set<string>;
}

const MIN_SECRET = 8;
/** Captures kept for searching secrets registered later; older ones are dropped past this many characters. */
const KEEP_CHARS = 64 * 1024 * 1024;

const secrets = new Map<string, string>(); // value -> label
const captures: Capture[] = [];
let keptChars = 0;
const findings: Finding[] = [];
const seen = new Set<string>();
let capturedChars = 0;
let captureCount = 0;

const SHAPES: Array<[string, RegExp]> = [
  ['a qbsync bearer token', /qb[sl]_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}/],
  ['a JWT', /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/],
  ['a bearer credential', /Bearer\s+(?!\[REDACTED\])[A-Za-z0-9._~+/-]{12,}/i],
  // Placeholders in help and docs (…, ***, <pw>, $PW, "password") are not secrets.
  ['a password in a URL', /\b[a-z][a-z0-9+.-]*:\/\/[^:/?#\s@"']+:(?!(?:\[REDACTED\]|\*+|…|\.\.\.|<[^>@]*>|\$\{?\w+\}?|password|secret|pass|pw)@)[^@/\s"']+@/i],
];

function excerpt(text: string, at: number, len: number): string {
  const from = Math.max(0, at - 60);
  const to = Math.min(text.length, at + len + 60);
  // The secret itself is shown masked: the report must not become a leak of its own.
  const s = text.slice(from, at) + `<<${'*'.repeat(Math.min(len, 8))}>>` + text.slice(at + len, to);
  return s.replace(/\s+/g, ' ');
}

function record(f: Finding): void {
  const key = `${f.secret}|${f.place}`;
  if (seen.has(key)) return;
  seen.add(key);
  findings.push(f);
}

function searchSecret(c: Capture, value: string, label: string): void {
  if (c.issued.has(value)) return;
  const at = c.text.indexOf(value);
  if (at >= 0) record({ secret: label, place: c.place, excerpt: excerpt(c.text, at, value.length) });
}

function searchShapes(c: Capture): void {
  for (const [label, re] of SHAPES) {
    const m = re.exec(c.text);
    if (!m) continue;
    if ([...c.issued].some((v) => m[0].includes(v) || v.includes(m[0]))) continue;
    record({ secret: label, place: c.place, excerpt: excerpt(c.text, m.index, m[0].length) });
  }
}

/** The password of a postgres URL (decoded), if any. */
export function urlPassword(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const p = new URL(url).password;
    return p ? decodeURIComponent(p) : undefined;
  } catch {
    return undefined;
  }
}

/** The path and query of a webhook URL (where services put their secret), if long enough to be one. */
function urlSecretPart(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    const part = `${u.pathname}${u.search}`;
    return part.length > 1 ? part : undefined;
  } catch {
    return undefined;
  }
}

/** Forgets findings (only for the sweep's own self-test, which plants a secret on purpose). */
export function dismissFindings(filter: (place: string) => boolean): void {
  for (let i = findings.length - 1; i >= 0; i--) if (filter(findings[i].place)) findings.splice(i, 1);
}

/** Registers a value that must not appear in anything captured (except where it was issued). */
export function registerTestSecret(value: string | undefined | null, label: string, issuedIn?: { place: string }): void {
  if (!value || value.length < MIN_SECRET) return;
  if (issuedIn) for (const c of captures) if (c.place === issuedIn.place) c.issued.add(value);
  if (secrets.has(value)) return;
  secrets.set(value, label);
  for (const c of captures) searchSecret(c, value, label);
}

let envSeen = '';
function registerEnvironmentSecrets(): void {
  const now = `${process.env.QBSYNC_TEST_ADMIN_URL}|${process.env.QBSYNC_TEST_DATABASE_URL}`;
  if (now === envSeen) return;
  envSeen = now;
  registerTestSecret(urlPassword(process.env.QBSYNC_TEST_ADMIN_URL), 'the test database password');
  registerTestSecret(urlPassword(process.env.QBSYNC_TEST_DATABASE_URL), 'the test database password');
}

/**
 * Adds text to the sweep. `issues`: secrets this text legitimately hands out (a login answer, the stdout of
 * `qbsync token create`); they are registered and allowed here only.
 */
export function captureText(place: string, text: string, opts: { issues?: string[] } = {}): void {
  if (!text) return;
  registerEnvironmentSecrets();
  const c: Capture = { place, text, issued: new Set((opts.issues ?? []).filter((v) => v.length >= MIN_SECRET)) };
  captureCount++;
  capturedChars += text.length;
  for (const [value, label] of secrets) searchSecret(c, value, label);
  searchShapes(c);
  captures.push(c);
  keptChars += text.length;
  while (keptChars > KEEP_CHARS && captures.length > 1) keptChars -= captures.shift()!.text.length;
  for (const v of c.issued) registerTestSecret(v, 'an issued token');
}

const TOKEN_IN_OUTPUT = /qb[sl]_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/g;

/**
 * A `qbsync` child process finished (test/helpers/cli.ts): its environment's secrets are registered, its
 * output captured. Tokens printed on stdout by `token create` / `start` are issued there.
 */
export function recordCliRun(args: string[], env: NodeJS.ProcessEnv, out: { stdout: string; stderr: string }): void {
  registerTestSecret(env.QBENCH_CLIENT_SECRET, 'QBENCH_CLIENT_SECRET given to the CLI');
  registerTestSecret(urlPassword(env.DATABASE_URL), 'the DATABASE_URL password given to the CLI');
  registerTestSecret(urlSecretPart(env.QBSYNC_ALERT_WEBHOOK), 'the path of QBSYNC_ALERT_WEBHOOK given to the CLI');
  const cmd = `qbsync ${args.map((a) => (a.length > 40 ? `${a.slice(0, 37)}...` : a)).join(' ')}`.slice(0, 200);
  const issuing = (args[0] === 'token' && args[1] === 'create') || args[0] === 'start';
  const issued = issuing ? [...out.stdout.matchAll(TOKEN_IN_OUTPUT)].map((m) => m[0]) : [];
  captureText(`${cmd} (stdout)`, out.stdout, { issues: issued });
  captureText(`${cmd} (stderr)`, out.stderr);
}

/** Everything found so far (optionally only in places whose name passes `filter`). */
export function secretFindings(filter?: (place: string) => boolean): Finding[] {
  registerEnvironmentSecrets();
  return filter ? findings.filter((f) => filter(f.place)) : [...findings];
}

export function sweepStats(): { captures: number; chars: number; secrets: number } {
  return { captures: captureCount, chars: capturedChars, secrets: secrets.size };
}

export function formatFindings(list: Finding[]): string {
  return list.map((f) => `  ${f.secret} in ${f.place}: …${f.excerpt}…`).join('\n');
}

// ---- logger capture: tee winston's Stream and Console transports (every logger of this process) --------------

const MESSAGE = Symbol.for('message');
type LogFn = (info: Record<string | symbol, unknown>, next: () => void) => void;
const patched = Symbol.for('qbsync.secretSweep.patched');

function tee(proto: { log?: LogFn } & Record<symbol, unknown>, name: string): void {
  if (!proto || proto[patched] || typeof proto.log !== 'function') return;
  const original = proto.log;
  proto.log = function (this: unknown, info, next) {
    const line = info?.[MESSAGE];
    captureText(`log line (${name} transport)`, typeof line === 'string' ? line : safeJson(info));
    return original.call(this, info, next);
  };
  proto[patched] = true;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return String(v);
  }
}

tee(winston.transports.Stream.prototype as never, 'stream');
tee(winston.transports.Console.prototype as never, 'console');

registerTestSecret(TEST_CLIENT_SECRET, 'the test QBench client secret (test/helpers/sim.ts)');

// ---- root hooks -----------------------------------------------------------------------------------------------

export const mochaHooks = {
  beforeAll(): void {
    registerEnvironmentSecrets();
  },
  afterAll(): void {
    const list = secretFindings();
    if (list.length) {
      const s = sweepStats();
      throw new Error(`secret sweep: ${list.length} secret(s) found in captured output (${s.captures} captures, ${s.chars} characters, ${s.secrets} secrets):\n${formatFindings(list)}`);
    }
  },
};
