// Shared helpers for the simulator tests: start a simulator, get a token over HTTP, call the API, page a list.

import { signAssertion, startSimulator, type SimEntity, type SimOptions, type Simulator } from '../../sim/index.js';

export const CLIENT_ID = 'sim-test-client';
export const CLIENT_SECRET = 'sim-test-secret-0123456789';
export const JWT_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export function startSim(opts: Partial<SimOptions> = {}): Promise<Simulator> {
  return startSimulator({
    size: 'tiny',
    seed: 42,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    rateLimit: { enabled: false },
    ...opts,
  });
}

export function tokenRequest(sim: Simulator, form: Record<string, string>, path = '/qbench/oauth2/v1/token'): Promise<Response> {
  return fetch(sim.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
}

export async function getToken(sim: Simulator, clientId = CLIENT_ID, secret = CLIENT_SECRET): Promise<string> {
  const res = await tokenRequest(sim, { grant_type: JWT_GRANT, assertion: signAssertion(clientId, secret) });
  if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { access_token: string };
  return body.access_token;
}

export interface ApiReply {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** GET an API path; `params` values that are arrays become repeated keys. */
export async function api(
  sim: Simulator,
  token: string,
  path: string,
  params: Record<string, string | number | boolean | (string | number)[]> = {},
  init: RequestInit = {},
): Promise<ApiReply> {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) for (const x of v) qs.append(k, String(x));
    else qs.append(k, String(v));
  }
  const q = qs.toString();
  const res = await fetch(`${sim.url}/qbench/api/v1/${path}${q ? `?${q}` : ''}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(init.headers ?? {}) },
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Pages a v1 list to its end (page_num >= total_pages), returning every item in order. */
export async function pageAll(
  sim: Simulator,
  token: string,
  entity: SimEntity,
  params: Record<string, string | number | boolean | (string | number)[]> = {},
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for (let page = 1; ; page++) {
    const r = await api(sim, token, entity, { page_size: 50, ...params, page_num: page });
    if (r.status !== 200) throw new Error(`${entity} page ${page}: ${r.status} ${r.text}`);
    items.push(...r.json.data);
    if (page >= r.json.total_pages || r.json.data.length === 0) break;
  }
  return items;
}

/** The one key of a v1 envelope or detail object that is not a real field (the random "qba": "491aef8"). */
export function extraKeys(obj: Record<string, unknown>, known: readonly string[]): string[] {
  return Object.keys(obj).filter((k) => !known.includes(k));
}

export const DATE_TIME = /^(0[1-9]|1[0-2])\/(0[1-9]|[12]\d|3[01])\/\d{4} (0[1-9]|1[0-2]):[0-5]\d (AM|PM)$/;
export const DATE_ONLY = /^(0[1-9]|1[0-2])\/(0[1-9]|[12]\d|3[01])\/\d{4}$/;
export const UNIX_STRING = /^\d{9,10}$/;
