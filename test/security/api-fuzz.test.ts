/**
 * API fuzz: every route of allRoutes() (the same list the OpenAPI document is built from, so a new route is
 * fuzzed without touching this file), with bad path parameters, query parameters, bodies, content types,
 * encodings, methods and credentials, plus raw-socket requests node's HTTP client would not send.
 *
 * Every answer must be < 500; an error answer is JSON with `error` and `message` and no stack trace or HTML;
 * a value the schema refuses must get a 4xx (the oracle reads the same JSON Schemas: types, enums, patterns,
 * lengths, ranges, NUL); POST routes never reach the job queue with a refused body; nothing captured carries a
 * secret (test/helpers/secret-sweep.ts); and the data in raw, qbench and qbsync is unchanged (lib.ts says which
 * columns the API legitimately writes: token last use, the login failure counter).
 *
 * Seeded: QBSYNC_FUZZ_SEED=<n> replays a failing run (the seed is in every failure message);
 * QBSYNC_FUZZ_SEED=random explores; QBSYNC_FUZZ_LONG=1 runs many more random combinations.
 */
import crypto from 'node:crypto';
import querystring from 'node:querystring';
import zlib from 'node:zlib';
import { expect } from 'chai';
import { addUser, allRoutes, createApiToken, revokeToken } from '../../api/index.js';
import { schemaFiles } from '../../api/validate.js';
import type { RouteDef } from '../../api/http.js';
import { apiFixture, type ApiFixture } from '../api/fixture.js';
import { captureText, formatFindings, registerTestSecret, secretFindings } from '../helpers/secret-sweep.js';
import {
  LONG, STACK, changedTables, dataChecksums, errorShapeProblems, fuzzSeed, pool, prng, rawSocket, recordingEnqueuer, request, type Prng, type RawResponse,
} from './lib.js';

type Verdict = 'reject' | 'any';

interface Case {
  id: string;
  method: string;
  /** Raw path with query, exactly as sent. */
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** A raw request (bytes on the socket) instead. */
  raw?: Buffer;
  verdict: Verdict;
  /** Exact statuses allowed (else: any 4xx for 'reject', anything below 500 for 'any'). */
  statuses?: number[];
  /** The route's operation, for admin routes whose stub enqueuer must not be reached on a refused case. */
  mutation?: boolean;
  /** Texts the answer must not contain (files a traversal would expose). */
  mustNotContain?: string[];
}

// ---------------------------------------------------------------------------------------------- schemas

type Schema = Record<string, any>;

function deref(s: Schema | undefined, depth = 0): Schema {
  if (!s || depth > 8) return s ?? {};
  if (typeof s.$ref === 'string') {
    const m = /^(?:([A-Za-z0-9_.-]+)\.json)?#\/\$defs\/([A-Za-z0-9_]+)$/.exec(s.$ref.replace('https://qbsync.dev/schemas/api/', ''));
    if (m) {
      const { $ref: _ref, ...rest } = s;
      const file = schemaFiles().get(m[1] ?? 'common');
      return { ...deref(file?.$defs?.[m[2]], depth + 1), ...rest };
    }
  }
  return s;
}

function partOf(route: RouteDef, part: 'query' | 'params' | 'body'): { props: Record<string, Schema>; required: string[] } {
  const s = deref(schemaFiles().get(route.operationId)?.$defs?.[part]);
  const props: Record<string, Schema> = {};
  for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) props[k] = deref(v);
  return { props, required: s.required ?? [] };
}

const typeOf = (s: Schema): string => (Array.isArray(s.type) ? s.type[0] : s.type) ?? (s.enum ? 'string' : 'any');
const cpLength = (s: string) => [...s].length;

/** Canonical decimal text, the only spelling of a number a query or path parameter takes (api/validate.ts). */
const INTEGER_TEXT = /^-?(0|[1-9][0-9]*)$/;
const NUMBER_TEXT = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;

/**
 * Would the schema accept this string? Only what is certain. `from` says where the string comes from: a query or
 * path parameter (numbers only in canonical decimal: " 1", "+1", "0x1F", "1e3", "1.0" for an integer are refused
 * before ajv's coercion), or a body value turned into a string here (ajv coerces it: any string that == its number).
 */
function refuses(s: Schema, v: string, from: 'param' | 'body' = 'param'): boolean {
  if (v.includes('\u0000')) return true;
  const t = typeOf(s);
  if (s.enum) return !s.enum.map(String).includes(v);
  if (t === 'integer' || t === 'number') {
    if (from === 'param' && !(t === 'integer' ? INTEGER_TEXT : NUMBER_TEXT).test(v)) return true;
    // ajv coerces a string that == its number; strictNumbers refuses NaN/Infinity.
    if (!(v !== '' && (v as unknown as number) == +v)) return true;
    const n = +v;
    if (!Number.isFinite(n)) return true;
    if (t === 'integer' && n % 1 !== 0) return true;
    if (s.minimum !== undefined && n < s.minimum) return true;
    if (s.exclusiveMinimum !== undefined && n <= s.exclusiveMinimum) return true;
    if (s.maximum !== undefined && n > s.maximum) return true;
    if (s.exclusiveMaximum !== undefined && n >= s.exclusiveMaximum) return true;
    return false;
  }
  if (t === 'boolean') return v !== 'true' && v !== 'false';
  if (t === 'string') {
    if (s.minLength !== undefined && cpLength(v) < s.minLength) return true;
    if (s.maxLength !== undefined && cpLength(v) > s.maxLength) return true;
    if (s.pattern && !new RegExp(s.pattern, 'u').test(v)) return true;
    if (s.format === 'uuid' && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v)) return true;
    return false;
  }
  return false;
}

/** A value the schema accepts (for the parameters a case does not mutate). */
function validValue(name: string, s: Schema): string {
  if (s.default !== undefined) return String(s.default);
  if (s.enum) return String(s.enum.includes('tests') ? 'tests' : s.enum[0]);
  const t = typeOf(s);
  if (t === 'integer' || t === 'number') return String(Math.max(1, s.minimum ?? 1));
  if (t === 'boolean') return 'true';
  if (s.format === 'uuid') return '00000000-0000-0000-0000-000000000000';
  if (s.pattern?.startsWith('^\\d{4}-')) return /to$/.test(name) ? '2026-06-30' : '2026-01-01';
  return 'REPORTED';
}

// ---------------------------------------------------------------------------------------------- value pools

/** [raw text as it goes into the URL, note]. Raw: percent sequences are sent as they are (some are invalid). */
type RawValue = [string, string];

const enc = (s: string) => encodeURIComponent(s);
const LONG_VALUE = 'A'.repeat(100_000);

const COMMON_VALUES: RawValue[] = [
  [enc("' OR 1=1 --"), 'sql: tautology'],
  [enc('1; DROP TABLE qbench.tests'), 'sql: stacked statement'],
  [enc("1' UNION SELECT password_hash FROM qbsync.api_users --"), 'sql: union'],
  [enc('1) OR (1=1'), 'sql: parenthesis'],
  [enc('../../etc/passwd'), 'traversal'],
  ['..%2F..%2Fetc%2Fpasswd', 'traversal, encoded slashes'],
  ['%2e%2e%2f%2e%2e%2fetc%2fpasswd', 'traversal, encoded dots'],
  ['%252e%252e%252f', 'traversal, double-encoded'],
  ['%c0%ae%c0%ae%2f', 'traversal, overlong UTF-8'],
  ['a%00b', 'NUL byte'],
  ['%00', 'NUL only'],
  ['%', 'lone percent'],
  ['%G1', 'bad percent escape'],
  ['%FF%FE', 'invalid UTF-8'],
  ['%ED%A0%80', 'UTF-8 surrogate'],
  ['%C0%80', 'overlong NUL'],
  [enc('é'), 'unicode letter'],
  [enc('١٢٣'), 'arabic-indic digits'],
  [enc('１２'), 'fullwidth digits'],
  [enc('😀'), 'emoji'],
  [enc('\u202Egnp.exe'), 'RTL override'],
  [enc('\uFEFF1'), 'BOM'],
  [enc('1\u200B'), 'zero-width space'],
  ['', 'empty'],
  [enc(' '), 'space'],
  [enc('<script>alert(1)</script>'), 'markup'],
  [enc('${7*7}{{7*7}}'), 'template'],
  [enc('$(id)`id`'), 'shell'],
  [enc('x'.repeat(8000)), '8 kB string'],
  [LONG_VALUE, '100 kB string'],
  ['null', 'null'],
  ['true', 'true'],
  ['[]', 'brackets'],
  ['{}', 'braces'],
];

const NUMBER_VALUES: RawValue[] = [
  ['abc', 'not a number'],
  ['1.5', 'fraction'],
  ['-1', 'negative'],
  ['0', 'zero'],
  ['-0', 'negative zero'],
  ['99999999999999999999999', 'huge'],
  ['9007199254740992', '2^53'],
  ['-9007199254740993', '-2^53-1'],
  ['1e400', 'overflow'],
  ['-1e400', 'negative overflow'],
  ['1e-400', 'underflow'],
  ['NaN', 'NaN'],
  ['Infinity', 'Infinity'],
  ['-Infinity', '-Infinity'],
  ['0x1F', 'hex'],
  ['1e3', 'exponent'],
  ['1E3', 'exponent, upper case'],
  ['+1', 'plus sign'],
  ['%2B5', 'plus sign, encoded'],
  [enc(' 1'), 'leading space'],
  [enc('1 '), 'trailing space'],
  [enc('\t1'), 'leading tab'],
  ['1.0', 'integral fraction'],
  ['01', 'leading zero'],
  ['.5', 'no integer part'],
  ['5.', 'no fraction digits'],
  ['0b11', 'binary'],
  ['0o7', 'octal'],
  ['1,2', 'comma list'],
  ['2147483648', '2^31'],
];

const BOOLEAN_VALUES: RawValue[] = [['maybe', 'maybe'], ['2', 'two'], ['TRUE', 'upper case'], ['yes', 'yes'], ['1', 'one'], ['-1', 'minus one']];

const DATE_VALUES: RawValue[] = [
  ['yesterday', 'word'], ['2026-02-30', 'no such day'], ['2026-13-01', 'month 13'], ['0000-00-00', 'zeros'], ['2026-1-1', 'short'],
  ['2026-01-01T25:00', 'hour 25'], ['2026-01-01T23:59:60', 'second 60'], [enc('2026-01-01T00:00+99:99'), 'offset 99'],
  ['99999-01-01', 'year 99999'], ['-2026-01-01', 'negative year'], [enc('２０２６-01-01'), 'fullwidth'],
  [enc('2026-01-01T00:00:00.000000001Z'), 'nanoseconds'], [enc("2026-01-01' OR 1=1 --"), 'sql'], ['1767225600', 'epoch seconds'],
  ['9999-12-31T23:59:59.999Z', 'far future (valid)'], ['0001-01-01', 'year 1 (valid)'], ['1970-01-01T00:00:00-12:00', 'old (valid)'],
];

function poolFor(s: Schema, name: string): RawValue[] {
  const t = typeOf(s);
  const extra: RawValue[] = [];
  if (t === 'integer' || t === 'number') {
    extra.push(...NUMBER_VALUES);
    if (s.minimum !== undefined) extra.push([String(s.minimum - 1), 'below minimum']);
    if (s.exclusiveMinimum !== undefined) extra.push([String(s.exclusiveMinimum), 'at exclusive minimum']);
    if (s.maximum !== undefined) extra.push([String(s.maximum + 1), 'above maximum'], [String(s.maximum * 10), 'far above maximum']);
  } else if (t === 'boolean') extra.push(...BOOLEAN_VALUES);
  else if (s.enum) {
    const first = String(s.enum[0]);
    extra.push([enc(first.toUpperCase()), 'enum upper case'], [enc(`${first} `), 'enum trailing space'], [enc(`${first}%00`), 'enum NUL'], ['nope', 'not in enum']);
  } else if (s.pattern?.startsWith('^\\d{4}-')) extra.push(...DATE_VALUES);
  else if (s.format === 'uuid') extra.push(['00000000-0000-0000-0000-00000000000g', 'uuid with g'], ['00000000000000000000000000000000', 'uuid without dashes'], [enc('{00000000-0000-0000-0000-000000000000}'), 'uuid in braces']);
  if (t === 'string' && s.maxLength) extra.push([enc('x'.repeat(s.maxLength + 1)), 'one over maxLength'], [enc('é'.repeat(s.maxLength)), 'maxLength of 2-byte characters']);
  void name;
  return [...extra, ...COMMON_VALUES];
}

/** What the server sees for a raw query value (node's querystring, which express's 'simple' parser uses). */
const decodeQuery = (raw: string) => querystring.unescape(raw.replace(/\+/g, ' '));
function decodePath(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined; // express answers 400 "Failed to decode param"
  }
}

// ---------------------------------------------------------------------------------------------- cases

const pathOf = (route: RouteDef, params: Record<string, string>) => route.path.replace(/\{([A-Za-z_]+)\}/g, (_m, k: string) => params[k]);

function validParams(route: RouteDef): Record<string, string> {
  const { props } = partOf(route, 'params');
  return Object.fromEntries(Object.entries(props).map(([k, s]) => [k, validValue(k, s)]));
}

function validBody(route: RouteDef): Record<string, unknown> {
  const { props, required } = partOf(route, 'body');
  const out: Record<string, unknown> = {};
  for (const k of required) {
    const s = props[k];
    if (route.operationId === 'login') out[k] = k === 'username' ? 'fuzz-user' : 'not-the-password';
    else out[k] = typeOf(s) === 'array' ? [deref(s.items).enum?.[0] ?? 'tests'] : validValue(k, s);
  }
  return out;
}

/** A body value judged against a body property schema (ajv coerces scalars to the property's type). */
function bodyRefuses(s: Schema, v: unknown): boolean {
  const t = typeOf(s);
  if (t === 'array') {
    if (!Array.isArray(v)) return true;
    if (s.minItems !== undefined && v.length < s.minItems) return true;
    if (s.maxItems !== undefined && v.length > s.maxItems) return true;
    if (s.uniqueItems && new Set(v.map((x) => JSON.stringify(x))).size !== v.length) return true;
    return v.some((x) => bodyRefuses(deref(s.items), x));
  }
  if (v !== null && typeof v === 'object') return true;
  if (typeof v === 'string' && v.includes('\u0000')) return true;
  if (t === 'string') {
    const str = v === null ? '' : typeof v === 'string' ? v : String(v);
    return refuses(s, str, 'body');
  }
  if (t === 'integer' || t === 'number') {
    if (typeof v === 'number') return refuses(s, String(v), 'body');
    if (typeof v === 'boolean') return refuses(s, v ? '1' : '0', 'body');
    if (v === null) return refuses(s, '0', 'body');
    return refuses(s, v as string, 'body');
  }
  return false;
}

const BODY_VALUES: Array<[unknown, string]> = [
  [1, 'number'], [-1, 'negative'], [1.5, 'fraction'], [1e308, 'huge'], [true, 'boolean'], [false, 'false'], [null, 'null'], [[], 'empty array'],
  [{}, 'object'], [{ $gt: '' }, 'operator object'], [["' OR 1=1 --"], 'array of sql'], [['tests', 'tests'], 'duplicates'],
  [['customers', 'orders', 'samples', 'batches', 'tests', 'assays', 'reports', 'tests'], '8 items'], [['users'], 'unknown entity'],
  ["' OR 1=1 --", 'sql'], ['1; DROP TABLE qbench.tests', 'sql stacked'], ['../../etc/passwd', 'traversal'], ['a\u0000b', 'NUL'],
  ['\ud800', 'lone surrogate'], ['é😀', 'unicode'], ['', 'empty'], ['x'.repeat(20_000), '20 kB string'], ['full ', 'trailing space'],
  ['FULL', 'upper case'], ['2026-02-30', 'no such day'], ['2026-01-01T00:00:00Z', 'date-time'],
];

/** Values of each query parameter's pool tried per route in the default run. */
const QUERY_SAMPLE = 14;

interface Built {
  cases: Case[];
  counts: Record<string, number>;
}

function buildCases(r: Prng, tokens: { admin: string; read: string; revoked: string; expired: string }): Built {
  const cases: Case[] = [];
  const counts: Record<string, number> = {};
  const add = (kind: string, c: Omit<Case, 'id'>) => {
    counts[kind] = (counts[kind] ?? 0) + 1;
    cases.push({ id: `${kind}#${counts[kind]}`, ...c });
  };
  const auth = (route: RouteDef): Record<string, string> => (route.access === 'public' ? {} : { authorization: `Bearer ${tokens.admin}` });
  const json = { 'content-type': 'application/json' };

  for (const route of allRoutes()) {
    const M = route.method.toUpperCase();
    const params = validParams(route);
    const base = pathOf(route, params);
    const mutation = route.method !== 'get';
    const bodyFor = () => (mutation ? JSON.stringify(validBody(route)) : undefined);
    const h = () => ({ ...auth(route), ...(mutation ? json : {}) });

    // Path parameters, one at a time.
    for (const [name, s] of Object.entries(partOf(route, 'params').props)) {
      for (const [raw, note] of [...poolFor(s, name), ['../../../etc/passwd', 'traversal, raw slashes'] as RawValue, [`${params[name]}/..`, 'dot segment']]) {
        const decoded = decodePath(raw);
        const verdict: Verdict = raw.includes('/') || raw === '' ? 'any' : decoded === undefined || refuses(s, decoded) ? 'reject' : 'any';
        add('path', { method: M, path: pathOf(route, { ...params, [name]: raw }), headers: h(), body: bodyFor(), verdict, mutation, mustNotContain: ['root:x:0:0'] });
        void note;
      }
    }

    // Query parameters, one at a time; then duplicated, bracketed and unknown ones.
    const query = partOf(route, 'query').props;
    for (const [name, s] of Object.entries(query)) {
      // A seeded sample of each parameter's pool (all of it with QBSYNC_FUZZ_LONG=1); every value is tried on some route.
      const values = poolFor(s, name);
      for (const [raw] of LONG ? values : r.sample(values, QUERY_SAMPLE)) {
        const verdict: Verdict = raw.length > 16_000 || refuses(s, decodeQuery(raw)) ? 'reject' : 'any';
        add('query', { method: M, path: `${base}?${name}=${raw}`, headers: h(), body: bodyFor(), verdict, mutation });
      }
      const v = validValue(name, s);
      add('query-dup', { method: M, path: `${base}?${name}=${v}&${name}=${v}`, headers: h(), body: bodyFor(), verdict: 'reject', mutation });
      add('query-array', { method: M, path: `${base}?${name}[]=${v}`, headers: h(), body: bodyFor(), verdict: 'reject', mutation });
      add('query-object', { method: M, path: `${base}?${name}[a]=${v}`, headers: h(), body: bodyFor(), verdict: 'reject', mutation });
    }
    for (const unknown of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '%24where', '%00', 'x%00', '', 'limit%5B%5D', enc("' OR 1=1 --"), 'access_token']) {
      add('query-unknown', { method: M, path: `${base}?${unknown}=1`, headers: h(), body: bodyFor(), verdict: 'reject', mutation });
    }
    add('query-garbage', { method: M, path: `${base}?&&&==&%&%%`, headers: h(), body: bodyFor(), verdict: 'reject', mutation });

    // Random combinations of several query parameters (valid and bad values mixed).
    const names = Object.keys(query);
    for (let i = 0; names.length && i < (LONG ? 150 : 12); i++) {
      const chosen = r.sample(names, 1 + r.int(0, Math.min(4, names.length) - 1));
      let verdict: Verdict = 'any';
      const parts = chosen.map((n) => {
        const s = query[n];
        const raw = r.next() < 0.4 ? enc(validValue(n, s)) : r.pick(poolFor(s, n))[0];
        if (raw.length > 16_000 || refuses(s, decodeQuery(raw))) verdict = 'reject';
        return `${n}=${raw}`;
      });
      add('query-combo', { method: M, path: `${base}?${parts.join('&')}`, headers: h(), body: bodyFor(), verdict, mutation });
    }

    // Bodies of POST routes.
    if (mutation) {
      const { props } = partOf(route, 'body');
      const valid = validBody(route);
      const isLogin = route.operationId === 'login';
      const v = (b: Record<string, unknown>): Verdict => (isLogin ? 'reject' : Object.entries(b).some(([k, x]) => (props[k] ? bodyRefuses(props[k], x) : true)) ? 'reject' : 'any');
      for (const [name, s] of Object.entries(props)) {
        for (const [value] of BODY_VALUES) {
          const b = { ...valid, [name]: value };
          const verdict = v(b);
          add('body-field', { method: M, path: base, headers: h(), body: JSON.stringify(b), verdict: isLogin ? 'reject' : verdict, mutation });
        }
        void s;
      }
      const raws: Array<[string | Buffer, Verdict, string?]> = [
        ['garbage', 'reject'], ['{', 'reject'], ['{"mode":', 'reject'], ["{'mode':'full'}", 'reject'], ['NaN', 'reject'], ['{"a":1,}', 'reject'],
        ['{"a":1}garbage', 'reject'], ['null', 'reject'], ['1', 'reject'], ['"x"', 'reject'], ['true', 'reject'], ['[]', 'reject'], ['[{}]', 'reject'],
        [Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), 'reject'], ['\uFEFF{}', 'any'], ['{"__proto__":{"is_admin":true}}', 'reject'],
        ['{"constructor":{"prototype":{"is_admin":true}}}', 'reject'], ['{"is_admin":true}', 'reject'], [`{"x":${'['.repeat(5000)}${']'.repeat(5000)}}`, 'reject'],
        [`{"entities":${'['.repeat(5000)}${']'.repeat(5000)}}`, 'reject'], [JSON.stringify({ ...valid, padding: 'x'.repeat(40_000) }), 'reject', '413'],
        [Buffer.alloc(1_000_000, 0x20), 'reject', '413'],
      ];
      if (props.mode) raws.push(['{"mode":"bogus","mode":"full"}', 'any'], ['{"mode":"full","mode":"bogus"}', 'reject']);
      for (const [body, verdict, status] of raws) {
        add('body-raw', { method: M, path: base, headers: h(), body, verdict: isLogin ? 'reject' : verdict, mutation, statuses: status ? [Number(status)] : undefined });
      }
      // Content types and encodings: a body that is not JSON is a 415 (or 400 when it cannot be decoded).
      const okBody = JSON.stringify(valid);
      for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/json-patch+json', 'text/html', '', 'application/json; charset=koi8-r']) {
        const headers: Record<string, string> = { ...auth(route) };
        if (ct) headers['content-type'] = ct;
        add('content-type', { method: M, path: base, headers, body: ct.includes('form-urlencoded') ? 'mode=full' : okBody, verdict: 'reject', statuses: [415], mutation });
      }
      const gz = zlib.gzipSync(Buffer.alloc(2_000_000, 0x20)); // inflates to 2 MB: over the limit once decoded
      for (const [encoding, body, status] of [
        ['gzip', Buffer.from('not gzip'), undefined], ['br', Buffer.from('not brotli'), undefined], ['deflate', Buffer.from('nope'), undefined],
        ['zstd', Buffer.from(okBody), 415], ['gzip, gzip', zlib.gzipSync(zlib.gzipSync(okBody)), 415], ['gzip', gz, 413],
      ] as Array<[string, Buffer, number | undefined]>) {
        add('content-encoding', { method: M, path: base, headers: { ...auth(route), ...json, 'content-encoding': encoding }, body, verdict: 'reject', statuses: status ? [status] : undefined, mutation });
      }
      // A declared Content-Length over the limit, with the body actually sent: refused from the declared length
      // before a byte of it is read, the connection closed (body-limit.test.ts: a client that sends nothing).
      add('content-length', { method: M, path: base, headers: { ...auth(route), ...json, 'content-length': '300000' }, body: Buffer.alloc(300_000, 0x20), verdict: 'reject', statuses: [413], mutation });
    }

    // Credentials.
    if (route.access !== 'public') {
      const creds: Array<[Record<string, string>, number]> = [
        [{}, 401], [{ authorization: 'Basic YWRtaW46YWRtaW4=' }, 401], [{ authorization: 'Bearer' }, 401], [{ authorization: 'Bearer ' }, 401],
        [{ authorization: `Bearer ${'x'.repeat(10_000)}` }, 401], [{ authorization: `Bearer ${tokens.admin} extra` }, 401],
        [{ authorization: `Bearer ${tokens.admin.slice(0, -1)}` }, 401], [{ authorization: `Bearer ${tokens.admin.replace(/^qbs/, 'qbl')}` }, 401],
        [{ authorization: `Bearer ${tokens.revoked}` }, 401], [{ authorization: `Bearer ${tokens.expired}` }, 401],
        [{ authorization: `Bearer ${tokens.admin.replace(/_/g, '%5F')}` }, 401], [{ authorization: "Bearer ' OR 1=1 --" }, 401],
        [{ authorization: `Bearer qbs_${'0'.repeat(16)}_${'A'.repeat(43)}` }, 401], [{ authorization: `Bearer ../../etc/passwd` }, 401],
      ];
      for (const [headers, status] of creds) {
        add('auth', { method: M, path: base, headers: { ...headers, ...(mutation ? json : {}) }, body: bodyFor(), verdict: 'reject', statuses: [status], mutation });
      }
      add('auth', { method: M, path: `${base}?access_token=${tokens.admin}`, headers: mutation ? json : {}, body: bodyFor(), verdict: 'reject', statuses: [401], mutation });
      if (route.access === 'admin') {
        add('auth', { method: M, path: base, headers: { authorization: `Bearer ${tokens.read}`, ...json }, body: bodyFor(), verdict: 'reject', statuses: [403], mutation });
      }
    }
  }

  // Methods a path does not take: 405 with Allow; OPTIONS: 204 with Allow.
  const byPath = new Map<string, RouteDef[]>();
  for (const route of allRoutes()) byPath.set(route.path, [...(byPath.get(route.path) ?? []), route]);
  for (const [p, routes] of byPath) {
    const path = pathOf(routes[0], validParams(routes[0]));
    const has = new Set(routes.map((x) => x.method.toUpperCase()));
    for (const m of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'TRACE']) {
      if (has.has(m)) continue;
      add('method', { method: m, path, headers: { authorization: `Bearer ${tokens.admin}` }, verdict: 'reject', statuses: [405] });
    }
    add('method', { method: 'OPTIONS', path, headers: {}, verdict: 'any', statuses: [204] });
    add('method', { method: 'FOO', path, headers: {}, verdict: 'reject', statuses: [400] });
    void p;
  }

  // Paths outside the routes: traversal towards files, the static assets, odd shapes.
  const secretFiles = ['root:x:0:0', '"name": "qbsync"', 'DATABASE_URL=', 'BEGIN OPENSSH', '"devDependencies"'];
  for (const p of [
    '/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/assets/../../package.json', '/assets/%2e%2e/%2e%2e/package.json',
    '/assets/%2e%2e%2f%2e%2e%2fpackage.json', '/assets/..%5c..%5cpackage.json', '/assets/....//....//package.json', '/assets/.env', '/assets/%00',
    '/assets/..%00/package.json', '//etc/passwd', '/api/v1/..;/..;/etc/passwd', '/api/v1/entities/orders/1/../../../../../package.json',
    '/api/docs/../../package.json', '/api/docs/%2e%2e/%2e%2e/package.json', '/api/v1/', '/api/v1/entities/', '/api/v1/entities/orders/',
    '/.git/config', '/node_modules/.package-lock.json', '/api/openapi.json/..%2f..%2fpackage.json', `/${'a/'.repeat(2000)}`, '/%', '/%FF',
  ]) {
    add('path-outside', { method: 'GET', path: p, headers: { authorization: `Bearer ${tokens.admin}` }, verdict: 'reject', mustNotContain: secretFiles });
  }

  // Requests node's client will not send: bytes on the socket. The parser refuses them (JSON, not a bare 400).
  for (const [raw, status] of [
    ['GET /api/v1/metrics/summary?state=a\u0000b HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['GET /api/v1/entities/orders/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['GET /api/health HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0000b\r\n\r\n', 400],
    ['GET /api/health HTTP/1.1\r\nHost: x\r\n obs-fold\r\n\r\n', 400],
    ['GARBAGE\r\n\r\n', 400],
    [`GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    [`GET /api/health?${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431],
    ['POST /api/v1/sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['POST /api/v1/sync HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}', 400],
    ['GET /api/health HTTP/9.9\r\nHost: x\r\n\r\n', 400],
  ] as Array<[string, number]>) {
    add('raw-socket', { method: 'RAW', path: JSON.stringify(raw.slice(0, 60)), headers: {}, raw: Buffer.from(raw, 'latin1'), verdict: 'reject', statuses: [status] });
  }
  return { cases, counts };
}

// ---------------------------------------------------------------------------------------------- the suite

describe('security: API fuzz (every route of allRoutes())', function () {
  this.timeout(300_000);
  const seed = fuzzSeed();
  let f: ApiFixture;
  const { enqueuer: stub, enqueued } = recordingEnqueuer();
  let tokens: { admin: string; read: string; revoked: string; expired: string };

  before(async () => {
    f = await apiFixture({ size: 'tiny', enqueue: stub });
    const password = crypto.randomBytes(18).toString('base64url');
    registerTestSecret(password, 'the fuzz user password');
    await addUser(f.db.pool, 'fuzz-user', password);
    const revoked = await createApiToken(f.db.pool, { name: 'fuzz-revoked', admin: true });
    await revokeToken(f.db.pool, revoked.tokenId);
    const expired = await createApiToken(f.db.pool, { name: 'fuzz-expired', admin: true, expiresAt: new Date(Date.now() - 1000) });
    tokens = { admin: f.adminToken, read: f.readToken, revoked: revoked.token, expired: expired.token };
    for (const [k, v] of Object.entries(tokens)) registerTestSecret(v, `the fuzz ${k} token`);
  });
  after(() => f?.close());

  it('the routes fuzzed are the routes the OpenAPI document lists', async () => {
    const doc = JSON.parse((await request(f.server.url, 'GET', '/api/openapi.json')).text) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`)).sort();
    expect(allRoutes().map((r) => `${r.method} ${r.path}`).sort()).to.deep.equal(documented);
  });

  it(`every case answers < 500 with a JSON error, refused input is a 4xx, nothing is queued or written (seed ${seed})`, async () => {
    const r = prng(seed);
    const { cases, counts } = buildCases(r, tokens);
    const before = await dataChecksums(f.db.pool);
    const failures: string[] = [];
    const fail = (c: Case, res: RawResponse | undefined, why: string) =>
      failures.push(`${c.id} ${c.method} ${c.path.slice(0, 160)}${c.body ? ` body ${String(c.body).slice(0, 80)}` : ''}: ${why}${res ? ` -> ${res.status} ${res.text.slice(0, 200)}` : ''}`);

    const check = async (c: Case) => {
      let res: RawResponse;
      try {
        res = c.raw ? await rawSocket(f.server.url, c.raw) : await request(f.server.url, c.method, c.path, c.headers, c.body);
      } catch (err) {
        fail(c, undefined, `no answer: ${(err as Error).message}`);
        return;
      }
      captureText(`API answer to ${c.method} ${c.path.slice(0, 100)}`, res.text);
      if (res.status === 0 || res.status >= 500) fail(c, res, 'server error');
      else if (c.statuses && !c.statuses.includes(res.status)) fail(c, res, `expected ${c.statuses.join('/')}`);
      else if (c.verdict === 'reject' && (res.status < 400 || res.status >= 500)) fail(c, res, 'refused input was accepted');
      if (res.status >= 400 || c.raw) for (const p of errorShapeProblems(res, c.method)) fail(c, res, p);
      else if (STACK.test(res.text)) fail(c, res, 'a stack trace in a success answer');
      if (res.status === 405 && !res.headers.allow) fail(c, res, '405 without Allow');
      for (const s of c.mustNotContain ?? []) if (res.text.includes(s)) fail(c, res, `the answer contains ${JSON.stringify(s)}`);
    };
    const started = Date.now();
    // Mutations one at a time (the stub enqueuer's calls are attributed to the case); the rest 8 at a time.
    for (const c of cases.filter((x) => x.mutation)) {
      const n = enqueued.length;
      await check(c);
      if (c.verdict === 'reject' && enqueued.length > n) fail(c, undefined, `a refused request reached the job queue (${enqueued.slice(n).join(', ')})`);
    }
    await pool(cases.filter((x) => !x.mutation), 8, check);
    const seconds = (Date.now() - started) / 1000;

    const after = await dataChecksums(f.db.pool);
    const changed = changedTables(before, after);
    const serverErrors = f.lines.filter((l) => /api handler error|"status":5\d\d/.test(l));
    const leaks = secretFindings((p) => p.startsWith('API answer') || p.startsWith('log line'));
    const summary = Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(', ');
    console.log(`      api fuzz: ${cases.length} requests over ${allRoutes().length} routes in ${seconds.toFixed(1)} s (${summary}); seed ${seed}`);
    expect(failures, `seed ${seed} (QBSYNC_FUZZ_SEED=${seed} replays it):\n${failures.slice(0, 40).join('\n')}\n(${failures.length} failures)`).to.deep.equal([]);
    expect(serverErrors, `seed ${seed}: server errors logged:\n${serverErrors.slice(0, 10).join('')}`).to.deep.equal([]);
    expect(changed, `seed ${seed}: data changed by refused requests`).to.deep.equal([]);
    expect(leaks, `seed ${seed}: secrets in answers or logs:\n${formatFindings(leaks)}`).to.deep.equal([]);
  });
});
