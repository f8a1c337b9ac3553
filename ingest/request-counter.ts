/**
 * Counts the client's requests, retries and 429s per entity between two landings, so each landing
 * transaction can add "what it took" to the run's counters.
 */
import type { ClientEvent } from './client/index.js';
import type { EntityName } from './entities.js';

interface Counts {
  requests: number;
  retries: number;
  rateLimited: number;
}

const PATH_TO_ENTITY: Record<string, EntityName> = {
  customer: 'customers', order: 'orders', sample: 'samples', batch: 'batches', test: 'tests', assay: 'assays', report: 'reports',
};

export class RequestCounter {
  private readonly pending = new Map<EntityName, Counts>();
  readonly totals: Counts = { requests: 0, retries: 0, rateLimited: 0 };

  /** Feed the client's onEvent here. */
  readonly onEvent = (e: ClientEvent): void => {
    const m = /\/qbench\/api\/v1\/(?:updates\/)?([a-z]+)/.exec(e.path);
    const entity = m ? PATH_TO_ENTITY[m[1]] : undefined;
    if (!entity) return;
    const c = this.pending.get(entity) ?? { requests: 0, retries: 0, rateLimited: 0 };
    if (e.type === 'request') { c.requests++; this.totals.requests++; }
    if (e.type === 'retry') { c.retries++; this.totals.retries++; }
    if (e.type === 'rate_limited') { c.rateLimited++; this.totals.rateLimited++; }
    this.pending.set(entity, c);
  };

  /** Counts since the last take for this entity (and resets them). */
  take(entity: EntityName): Counts {
    const c = this.pending.get(entity) ?? { requests: 0, retries: 0, rateLimited: 0 };
    this.pending.delete(entity);
    return c;
  }
}
