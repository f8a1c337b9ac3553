/**
 * Request validation with ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1) against the same schemas the
 * OpenAPI document is built from (schemas/api/*.json). Query values arrive as strings (or arrays when
 * repeated) and are coerced to the schema's types; defaults are filled in; unknown parameters are refused.
 * Every failure becomes a 400 naming the parameter and the rule, never a 500.
 *
 * Numbers in query and path parameters must be written in canonical decimal before ajv coerces them: ajv
 * accepts any string JavaScript reads as the number (" 1", "+5", "1e3", "0x1F", "1.0", "1e-400"), so one value
 * would have many spellings (cache keys, logs and SQL would see text the client never meant as a number).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import formatsPlugin from 'ajv-formats';
import { badRequest, type ErrorDetail } from './http.js';

const addFormats = formatsPlugin.default;

export const SCHEMA_DIR = fileURLToPath(new URL('../schemas/api/', import.meta.url));
export const SCHEMA_BASE = 'https://qbsync.dev/schemas/api/';

export type Part = 'query' | 'params' | 'body' | 'response';

export interface SchemaFile {
  $id: string;
  title?: string;
  description?: string;
  $defs: Partial<Record<Part, Record<string, any>>> & Record<string, any>;
}

let cache: { files: Map<string, SchemaFile>; ajv: Ajv2020; responseAjv: Ajv2020 } | undefined;

function newAjv(coerce: boolean): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, coerceTypes: coerce, useDefaults: coerce, strict: false, allowUnionTypes: true });
  addFormats(ajv);
  return ajv;
}

/** Every schema file under schemas/api, by name without .json. */
export function schemaFiles(): Map<string, SchemaFile> {
  if (cache) return cache.files;
  const files = new Map<string, SchemaFile>();
  const ajv = newAjv(true);
  const responseAjv = newAjv(false);
  for (const name of fs.readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.json')).sort()) {
    const file = JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, name), 'utf8')) as SchemaFile;
    if (file.$id !== SCHEMA_BASE + name) throw new Error(`schemas/api/${name}: $id must be ${SCHEMA_BASE + name}`);
    files.set(name.replace(/\.json$/, ''), file);
    ajv.addSchema(file);
    responseAjv.addSchema(file);
  }
  cache = { files, ajv, responseAjv };
  return files;
}

const compiled = new Map<string, ValidateFunction>();

function validatorFor(operationId: string, part: Part): ValidateFunction | undefined {
  const key = `${operationId}#${part}`;
  if (compiled.has(key)) return compiled.get(key);
  const files = schemaFiles();
  const file = files.get(operationId);
  let fn: ValidateFunction | undefined;
  if (file?.$defs?.[part]) {
    const ajv = part === 'response' ? cache!.responseAjv : cache!.ajv;
    fn = ajv.getSchema(`${file.$id}#/$defs/${part}`);
  }
  compiled.set(key, fn as ValidateFunction);
  return fn;
}

export function hasPart(operationId: string, part: Part): boolean {
  return Boolean(schemaFiles().get(operationId)?.$defs?.[part]);
}

/** Canonical decimal text: an integer parameter, a number parameter (no exponent, hex, sign + or spaces). */
export const INTEGER_TEXT = /^-?(0|[1-9][0-9]*)$/;
export const NUMBER_TEXT = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;

const NUMERIC_MESSAGE = {
  integer: 'must be a whole number in plain decimal digits, like 42 or -7 (no sign +, leading zero, fraction, exponent, hex or spaces)',
  number: 'must be a number in plain decimal, like 48 or 0.5 (no sign +, leading zero, exponent, hex or spaces)',
} as const;

/** The schema a property resolves to, following $refs (within its file and into other schema files). */
function resolveRef(node: Record<string, any> | undefined, file: SchemaFile, depth = 0): Record<string, any> | undefined {
  if (!node || typeof node.$ref !== 'string' || depth > 16) return node;
  const m = /^(?:(?:https:\/\/qbsync\.dev\/schemas\/api\/)?([A-Za-z0-9_.-]+\.json))?#\/\$defs\/([A-Za-z0-9_]+)$/.exec(node.$ref);
  if (!m) return node;
  const target = m[1] ? schemaFiles().get(m[1].replace(/\.json$/, '')) : file;
  if (!target) return node;
  const { $ref: _ref, ...rest } = node;
  return { ...resolveRef(target.$defs?.[m[2]], target, depth + 1), ...rest };
}

const numericCache = new Map<string, Map<string, 'integer' | 'number'>>();

/** The integer- and number-typed properties of a query or path part: name → type. */
function numericProperties(operationId: string, part: 'query' | 'params'): Map<string, 'integer' | 'number'> {
  const key = `${operationId}#${part}`;
  let out = numericCache.get(key);
  if (out) return out;
  out = new Map();
  const file = schemaFiles().get(operationId);
  const schema = file ? resolveRef(file.$defs?.[part], file) : undefined;
  for (const [name, prop] of Object.entries((schema?.properties ?? {}) as Record<string, Record<string, any>>)) {
    const t = resolveRef(prop, file!)?.type;
    const types = Array.isArray(t) ? t : [t];
    if (types.includes('integer')) out.set(name, 'integer');
    else if (types.includes('number')) out.set(name, 'number');
  }
  numericCache.set(key, out);
  return out;
}

/** Query and path numbers written in anything but canonical decimal text (a string given once; arrays are ajv's). */
function nonCanonicalNumbers(operationId: string, part: 'query' | 'params', data: Record<string, unknown>, where: 'query' | 'path'): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  for (const [name, type] of numericProperties(operationId, part)) {
    const v = data[name];
    if (typeof v !== 'string') continue;
    if ((type === 'integer' ? INTEGER_TEXT : NUMBER_TEXT).test(v)) continue;
    out.push({ parameter: name, in: where, rule: 'type', message: NUMERIC_MESSAGE[type] });
  }
  return out;
}

function describe(e: ErrorObject, where: 'query' | 'path' | 'body', data: unknown): ErrorDetail {
  let parameter = e.instancePath.replace(/^\//, '').split('/')[0] || undefined;
  let message = e.message ?? 'is invalid';
  switch (e.keyword) {
    case 'additionalProperties':
      parameter = String(e.params.additionalProperty);
      message = where === 'query' ? 'unknown parameter' : 'unknown field';
      break;
    case 'required':
      parameter = String(e.params.missingProperty);
      message = 'is required';
      break;
    case 'enum':
      message = `must be one of ${(e.params.allowedValues as unknown[]).map(String).join(', ')}`;
      break;
    case 'pattern':
      message = e.parentSchema && (e.parentSchema as any)['x-pattern-description'] ? `must be ${(e.parentSchema as any)['x-pattern-description']}` : 'has an invalid format';
      break;
    case 'type':
      // e.data is only set with ajv's verbose option: the value is looked up in the input instead.
      message = parameter && Array.isArray((data as Record<string, unknown> | undefined)?.[parameter]) && where !== 'body'
        ? 'must be given once'
        : `must be ${e.params.type === 'integer' ? 'a whole number' : e.params.type}`;
      break;
  }
  return { parameter, in: where, rule: e.keyword, message };
}

function hasNul(v: unknown, depth: number): boolean {
  if (typeof v === 'string') return v.includes('\u0000');
  if (!v || typeof v !== 'object' || depth > 32) return false;
  for (const [k, x] of Object.entries(v)) if (k.includes('\u0000') || hasNul(x, depth + 1)) return true;
  return false;
}

/**
 * Validates (and coerces, and fills defaults into) a copy of `input`. Throws a 400 HttpError on failure.
 */
export function validatePart(operationId: string, part: 'query' | 'params' | 'body', input: unknown): Record<string, any> {
  const fn = validatorFor(operationId, part);
  const where = part === 'params' ? 'path' : part;
  // A JSON array is not an object of fields (spread, `[]` would pass as `{}` and run the route with its defaults).
  if (Array.isArray(input)) throw badRequest([{ in: where, rule: 'type', message: `${part === 'body' ? 'the body' : where} must be an object` }]);
  const data = input && typeof input === 'object' ? { ...(input as Record<string, unknown>) } : input ?? {};
  // PostgreSQL text cannot hold a NUL character: a free-text parameter carrying one would reach the driver and
  // fail there (a 500). Refused here for every parameter and field, whatever its schema says.
  if (data && typeof data === 'object') {
    const bad = Object.entries(data).filter(([k, v]) => k.includes('\u0000') || hasNul(v, 0)).map(([k]) => k);
    if (bad.length) throw badRequest(bad.map((k) => ({ parameter: k, in: where, rule: 'nul', message: 'must not contain a NUL character' })));
  }
  // Numbers as canonical decimal text, checked before ajv's coercion would read "1e3" or " 1" as a number.
  if (fn && part !== 'body' && data && typeof data === 'object') {
    const bad = nonCanonicalNumbers(operationId, part, data as Record<string, unknown>, where as 'query' | 'path');
    if (bad.length) throw badRequest(bad);
  }
  if (!fn) {
    // No schema for this part: nothing may be sent in it.
    const keys = data && typeof data === 'object' ? Object.keys(data) : [];
    if (keys.length) throw badRequest(keys.map((k) => ({ parameter: k, in: where, rule: 'additionalProperties', message: where === 'query' ? 'unknown parameter' : 'unknown field' })));
    return {};
  }
  if (!fn(data)) {
    const seen = new Set<string>();
    const details: ErrorDetail[] = [];
    for (const e of fn.errors ?? []) {
      if (e.keyword === 'if') continue;
      const d = describe(e, where, data);
      const key = `${d.parameter}|${d.rule}`;
      if (seen.has(key)) continue;
      seen.add(key);
      details.push(d);
    }
    throw badRequest(details.length ? details : [{ in: where, rule: 'schema', message: 'is invalid' }]);
  }
  return data as Record<string, any>;
}

/** Checks a response body against its documented schema (tests use it for every answer). */
export function responseErrors(operationId: string, body: unknown): string[] | undefined {
  const fn = validatorFor(operationId, 'response');
  if (!fn) return undefined;
  if (fn(body)) return [];
  return (fn.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
}
