/**
 * Content addressing for raw bodies. QBench adds one random key to every response (`"qba": "491aef8"`,
 * `"qbde7": "3e9f356fc547"`), so two fetches of an unchanged page never match byte for byte. We split
 * that key off (it is kept on the fetch event), serialise the rest canonically (keys sorted at every
 * level) and hash that, so an unchanged page maps to the body already stored.
 */
import crypto from 'node:crypto';

/** QBench's random envelope key: `qb` + a few hex digits, with a hex string value. Real fields such as
 *  `qbd_customer_id` have an underscore and never match. */
const RANDOM_KEY = /^qb[0-9a-f]{0,8}$/i;
const HEX_VALUE = /^[0-9a-f]{4,64}$/i;

export function isRandomKey(key: string, value: unknown): boolean {
  return RANDOM_KEY.test(key) && typeof value === 'string' && HEX_VALUE.test(value);
}

/** Splits a top-level body into the part we hash/store and QBench's random key(s). */
export function splitRandomKeys(body: unknown): { rest: unknown; extra: Record<string, unknown> | null } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { rest: body, extra: null };
  let extra: Record<string, unknown> | null = null;
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (isRandomKey(k, v)) (extra ??= {})[k] = v;
    else rest[k] = v;
  }
  return { rest, extra };
}

/** Characters JSON.stringify escapes (and surrogates, which it may): strings without any are quoted as they are. */
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

/**
 * JSON with object keys sorted at every level (arrays keep their order). Its output is what the body hashes are
 * computed over, so it must never change: JSON.stringify's rendering for every value, keys in sort() order.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let s = '[';
    for (let i = 0; i < value.length; i++) s += (i ? ',' : '') + canonicalJson(value[i]);
    return s + ']';
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let s = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    s += (first ? '' : ',') + (NEEDS_ESCAPE.test(k) ? JSON.stringify(k) : `"${k}"`) + ':' + canonicalJson(v);
    first = false;
  }
  return s + '}';
}

export interface PreparedBody {
  sha256: string;
  /** Canonical JSON of the body without the random key: what raw.page_bodies stores. */
  json: string;
  bytes: number;
  extraKeys: Record<string, unknown> | null;
}

export function prepareBody(body: unknown): PreparedBody {
  const { rest, extra } = splitRandomKeys(body);
  const json = canonicalJson(rest);
  return {
    sha256: crypto.createHash('sha256').update(json).digest('hex'),
    json,
    bytes: Buffer.byteLength(json),
    extraKeys: extra,
  };
}
