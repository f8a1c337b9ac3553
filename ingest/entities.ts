// Catalog of the QBench entities qbsync syncs, in dependency order.
//
// The sync walks ENTITIES front to back, so every entity's parents are landed before
// its children (an order needs its customer, a test its sample). `v1` is the singular
// name QBench's v1 API uses in paths (/qbench/api/v1/<v1>); `name` is the plural we use
// in config, the CLI and table names.

export type EntityName = 'customers' | 'orders' | 'samples' | 'batches' | 'tests' | 'assays' | 'reports';
export type V1Entity = 'customer' | 'order' | 'sample' | 'batch' | 'test' | 'assay' | 'report';
export type SortOrder = 'asc' | 'desc';

export interface EntityInfo {
  readonly name: EntityName;
  readonly v1: V1Entity;
  /** Whether QBench has a v1 Updates feed (/updates/<v1>/<unix_ts>) for it (contract §3a). */
  readonly updatesFeed: boolean;
  /**
   * Sort used for full scans. `id asc` is the only order that stays stable while
   * records are added during a scan (new ids land on the last page), so a page-by-page
   * walk neither skips nor repeats rows (contract §6 "Better").
   */
  readonly defaultSort: { readonly sortBy: string; readonly sortOrder: SortOrder };
  /** Entities whose rows this one references; all appear earlier in ENTITIES. */
  readonly dependsOn: readonly EntityName[];
  /** QBench only returns worksheet data on test and batch calls when asked (contract §1). */
  readonly includeRawWorksheetData: boolean;
}

const byId = { sortBy: 'id', sortOrder: 'asc' } as const;

const CATALOG: EntityInfo[] = [
  { name: 'customers', v1: 'customer', updatesFeed: true, defaultSort: byId, dependsOn: [], includeRawWorksheetData: false },
  { name: 'orders', v1: 'order', updatesFeed: true, defaultSort: byId, dependsOn: ['customers'], includeRawWorksheetData: false },
  { name: 'samples', v1: 'sample', updatesFeed: true, defaultSort: byId, dependsOn: ['orders'], includeRawWorksheetData: false },
  // Batches and tests reference each other (batch.test_ids, test.batches); the contract's
  // order (§6) lands batches first and lets tests point at them.
  { name: 'batches', v1: 'batch', updatesFeed: false, defaultSort: byId, dependsOn: ['samples'], includeRawWorksheetData: true },
  { name: 'tests', v1: 'test', updatesFeed: true, defaultSort: byId, dependsOn: ['samples', 'batches'], includeRawWorksheetData: true },
  // Tests carry assay_id, but assays are a small lookup list that the contract orders
  // after tests; a test's assay is resolved at transform time, not ingest time.
  { name: 'assays', v1: 'assay', updatesFeed: true, defaultSort: byId, dependsOn: [], includeRawWorksheetData: false },
  // QBench documents no Updates feed for reports (§3a lists customer|contact|order|sample|test|assay).
  { name: 'reports', v1: 'report', updatesFeed: false, defaultSort: byId, dependsOn: ['orders', 'samples', 'tests'], includeRawWorksheetData: false },
];

export const ENTITIES: readonly EntityInfo[] = Object.freeze(
  CATALOG.map((e) => Object.freeze({ ...e, dependsOn: Object.freeze([...e.dependsOn]) })),
);

export const ENTITY_NAMES: readonly EntityName[] = ENTITIES.map((e) => e.name);

/**
 * Parses a user-supplied entity name: plural or singular (v1), any case, surrounding
 * whitespace ignored. Throws an Error naming the bad value and listing valid ones.
 */
export function parseEntityName(input: string): EntityName {
  const key = String(input).trim().toLowerCase();
  const hit = ENTITIES.find((e) => e.name === key || e.v1 === key);
  if (!hit) {
    throw new Error(
      `Unknown QBench entity ${JSON.stringify(input)}; expected one of: ${ENTITIES.map((e) => e.name).join(', ')} ` +
        `(singular forms ${ENTITIES.map((e) => e.v1).join(', ')} are accepted too)`,
    );
  }
  return hit.name;
}

/** Looks an entity up by its plural or v1 name (as typed values, not user input). */
export function entityInfo(entity: EntityName | V1Entity): EntityInfo {
  const hit = ENTITIES.find((e) => e.name === entity || e.v1 === entity);
  if (!hit) throw new Error(`Unknown QBench entity ${JSON.stringify(entity)}; expected one of: ${ENTITY_NAMES.join(', ')}`);
  return hit;
}
