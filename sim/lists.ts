// v1 list semantics: parameter validation, sorting, filtering and paging, plus the Updates feed. Sorted id
// arrays are cached per (entity, sort field) and rebuilt only when the store changes (advance), so a page of a
// million tests costs a slice, not a sort. Because ids are monotone in date_created, sorting by date_created
// (and by the parent id for samples/tests) is id order and needs no cache at all.

import { customerName } from './entities.js';
import { happened } from './lifecycle.js';
import type { Store } from './store.js';
import type { SimEntity } from './types.js';

export const MAX_PAGE_SIZE = 50;
export const DEFAULT_PAGE_SIZE = 50;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {
    super(description);
  }
}

const badRequest = (description: string): ApiError => new ApiError(400, 'invalid_request', description);

type SortKind = 'id' | 'last_updated' | 'customer_name';

/** sort_by fields each list accepts, and how each is served. Anything else is a 400. */
const SORT_FIELDS: Record<SimEntity, Record<string, SortKind>> = {
  customer: { id: 'id', date_created: 'id', last_updated: 'last_updated', customer_name: 'customer_name' },
  order: { id: 'id', date_created: 'id', last_updated: 'last_updated' },
  sample: { id: 'id', date_created: 'id', last_updated: 'last_updated', order_id: 'id' },
  test: { id: 'id', date_created: 'id', last_updated: 'last_updated', sample_id: 'id' },
  batch: { id: 'id', date_created: 'id', last_updated: 'last_updated', date_prepared: 'id' },
  assay: { id: 'id', date_created: 'id', last_updated: 'last_updated' },
  report: { id: 'id', date_created: 'id', date_generated: 'id', last_updated: 'last_updated' },
};

export function sortFields(entity: SimEntity): string[] {
  return Object.keys(SORT_FIELDS[entity]);
}

/** Repeatable id filters each list accepts (order_id is accepted as an alias of order_ids). */
const FILTERS: Record<SimEntity, readonly string[]> = {
  customer: ['ids'],
  order: ['ids', 'customer_ids'],
  sample: ['ids', 'customer_ids', 'order_ids'],
  test: ['ids', 'customer_ids', 'order_ids', 'sample_ids', 'assay_ids'],
  batch: ['ids', 'assay_ids'],
  assay: ['ids'],
  report: ['ids', 'sample_ids'],
};

export interface ListQuery {
  pageNum: number;
  pageSize: number;
  sortKind: SortKind;
  desc: boolean;
  filters: Map<string, Set<number>>;
}

function parsePositiveInt(name: string, raw: string | null, fallback: number): number {
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw badRequest(`${name} must be a positive integer`);
  const n = Number(raw.trim());
  if (n < 1) throw badRequest(`${name} must be a positive integer`);
  return n;
}

function parseIds(name: string, values: string[]): Set<number> {
  const out = new Set<number>();
  for (const value of values) {
    for (const part of value.split(',')) {
      const p = part.trim();
      if (p === '') continue;
      if (!/^\d+$/.test(p)) throw badRequest(`${name} must be a list of integer ids`);
      out.add(Number(p));
    }
  }
  return out;
}

export function parseListQuery(entity: SimEntity, params: URLSearchParams): ListQuery {
  const pageNum = parsePositiveInt('page_num', params.get('page_num'), 1);
  // page_size above the documented maximum is clamped to 50 (not rejected): see sim/README.md.
  const pageSize = Math.min(MAX_PAGE_SIZE, parsePositiveInt('page_size', params.get('page_size'), DEFAULT_PAGE_SIZE));
  const sortByRaw = params.get('sort_by');
  let sortKind: SortKind;
  if (sortByRaw === null || sortByRaw === '') {
    // Default order: customers alphabetical by name (case-insensitive), everything else by id.
    sortKind = entity === 'customer' ? 'customer_name' : 'id';
  } else {
    const kind = SORT_FIELDS[entity][sortByRaw];
    if (!kind) throw badRequest(`Invalid sort_by '${sortByRaw}'. Allowed: ${sortFields(entity).join(', ')}`);
    sortKind = kind;
  }
  const orderRaw = params.get('sort_order');
  let desc = false;
  if (orderRaw !== null && orderRaw !== '') {
    const o = orderRaw.toLowerCase();
    if (o !== 'asc' && o !== 'desc') throw badRequest(`Invalid sort_order '${orderRaw}'. Allowed: asc, desc`);
    desc = o === 'desc';
  }
  const filters = new Map<string, Set<number>>();
  for (const name of FILTERS[entity]) {
    const values = params.getAll(name);
    if (name === 'order_ids') values.push(...params.getAll('order_id'));
    if (values.length) filters.set(name, parseIds(name, values));
  }
  return { pageNum, pageSize, sortKind, desc, filters };
}

// ---------------------------------------------------------------------------------------------- caches

interface CacheEntry {
  version: number;
  ids: Uint32Array;
}

const caches = new WeakMap<Store, Map<string, CacheEntry>>();

function cached(store: Store, key: string, build: () => Uint32Array): Uint32Array {
  let map = caches.get(store);
  if (!map) caches.set(store, (map = new Map()));
  const hit = map.get(key);
  if (hit && hit.version === store.version) return hit.ids;
  const ids = build();
  map.set(key, { version: store.version, ids });
  return ids;
}

/** Ids not deleted at the store's now, ascending. */
export function liveIds(store: Store, entity: SimEntity): Uint32Array {
  return cached(store, `${entity}:id`, () => {
    const n = store.count(entity);
    const del = store.deletedColumn(entity);
    if (!del) return Uint32Array.from({ length: n }, (_, i) => i + 1);
    let live = 0;
    for (let id = 1; id <= n; id++) if (!happened(del[id], store.now)) live++;
    const out = new Uint32Array(live);
    let k = 0;
    for (let id = 1; id <= n; id++) if (!happened(del[id], store.now)) out[k++] = id;
    return out;
  });
}

function sortedIds(store: Store, entity: SimEntity, kind: SortKind): Uint32Array {
  if (kind === 'id') return liveIds(store, entity);
  if (kind === 'last_updated') {
    return cached(store, `${entity}:lu`, () => {
      const ids = liveIds(store, entity);
      // One packed float per id (time offset * 2^24 + id) sorts natively and breaks ties by id.
      const keys = new Float64Array(ids.length);
      for (let i = 0; i < ids.length; i++) keys[i] = store.sortKey(store.lastUpdatedAt(entity, ids[i]), ids[i]);
      keys.sort();
      const out = new Uint32Array(ids.length);
      for (let i = 0; i < keys.length; i++) out[i] = keys[i] % 2 ** 24;
      return out;
    });
  }
  return cached(store, `${entity}:name`, () => {
    const ids = Array.from(liveIds(store, entity));
    const lower = new Map<number, string>(ids.map((id) => [id, customerName(store.seed, id).toLowerCase()]));
    // Plain code-unit comparison of the lower-cased names (locale independent), ties by id.
    ids.sort((a, b) => {
      const x = lower.get(a)!;
      const y = lower.get(b)!;
      return x < y ? -1 : x > y ? 1 : a - b;
    });
    return Uint32Array.from(ids);
  });
}

function filterPredicate(store: Store, entity: SimEntity, filters: Map<string, Set<number>>): ((id: number) => boolean) | null {
  if (!filters.size) return null;
  const { orders, samples, tests, batches, reports } = store;
  const checks: ((id: number) => boolean)[] = [];
  for (const [name, set] of filters) {
    switch (name) {
      case 'ids':
        checks.push((id) => set.has(id));
        break;
      case 'customer_ids':
        if (entity === 'order') checks.push((id) => set.has(orders.customer[id]));
        else if (entity === 'sample') checks.push((id) => set.has(orders.customer[samples.order[id]]));
        else checks.push((id) => set.has(orders.customer[samples.order[tests.sample[id]]]));
        break;
      case 'order_ids':
        if (entity === 'sample') checks.push((id) => set.has(samples.order[id]));
        else checks.push((id) => set.has(samples.order[tests.sample[id]]));
        break;
      case 'sample_ids':
        if (entity === 'report') checks.push((id) => set.has(reports.sample[id]));
        else checks.push((id) => set.has(tests.sample[id]));
        break;
      case 'assay_ids':
        if (entity === 'batch') checks.push((id) => set.has(batches.assay[id] + 1));
        else checks.push((id) => set.has(tests.assay[id] + 1));
        break;
    }
  }
  return (id) => checks.every((c) => c(id));
}

export interface ListPage {
  totalCount: number;
  totalPages: number;
  ids: number[];
}

export function listPage(store: Store, entity: SimEntity, q: ListQuery): ListPage {
  const sorted = sortedIds(store, entity, q.sortKind);
  const pred = filterPredicate(store, entity, q.filters);
  let pool: ArrayLike<number> = sorted;
  if (pred) {
    const matched: number[] = [];
    for (let i = 0; i < sorted.length; i++) if (pred(sorted[i])) matched.push(sorted[i]);
    pool = matched;
  }
  const total = pool.length;
  const totalPages = Math.ceil(total / q.pageSize);
  const ids: number[] = [];
  const startIdx = (q.pageNum - 1) * q.pageSize;
  for (let k = startIdx; k < Math.min(total, startIdx + q.pageSize); k++) {
    ids.push(q.desc ? pool[total - 1 - k] : pool[k]);
  }
  return { totalCount: total, totalPages, ids };
}

// ---------------------------------------------------------------------------------------------- updates feed

/** Entities with a v1 Updates endpoint. There is none for batch (nor report), as on the real API. */
export const UPDATE_FEEDS = ['customer', 'contact', 'order', 'sample', 'test', 'assay'] as const;
export type UpdateFeed = (typeof UPDATE_FEEDS)[number];

/**
 * Ids changed (last_updated > since, creation included) and ids deleted after `since`, both ascending. A deleted
 * record appears only under `deleted`. Contacts are not simulated, so their feed is always empty.
 */
export function updatesSince(store: Store, feed: UpdateFeed, since: number): { updated: number[]; deleted: number[] } {
  if (feed === 'contact') return { updated: [], deleted: [] };
  const entity = feed as SimEntity;
  const n = store.count(entity);
  const del = store.deletedColumn(entity);
  const updated: number[] = [];
  const deleted: number[] = [];
  const now = store.now;
  for (let id = 1; id <= n; id++) {
    const d = del ? del[id] : 0;
    if (happened(d, now)) {
      if (d > since) deleted.push(id);
    } else if (store.lastUpdatedAt(entity, id) > since) {
      updated.push(id);
    }
  }
  return { updated, deleted };
}
