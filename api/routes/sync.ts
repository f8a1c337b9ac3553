/**
 * Sync control (admin tokens): POST /api/v1/sync, /api/v1/replay, /api/v1/backfill enqueue a run and answer
 * 202 with its run_id (the queued qbsync.sync_runs row and the pg-boss job are created in one transaction);
 * GET /api/v1/sync/runs and /api/v1/sync/runs/{id} show progress and results (any token).
 */
import { ENTITY_NAMES, getRun, listRuns } from '../../ingest/index.js';
import { HttpError, Reply, badRequest, notFound, type HandlerInput, type RouteDef } from '../http.js';
import { listRunsFiltered } from '../queries/runs.js';

function enqueuer(input: HandlerInput) {
  const e = input.deps.enqueue;
  if (!e) throw new HttpError(503, 'queue_unavailable', 'this API server has no job queue (start it with `qbsync api`, which connects pg-boss)');
  return e;
}

const who = (input: HandlerInput) => `api:${input.principal?.username ?? input.principal?.name ?? 'unknown'}`;

function accepted(runId: string, kind: string, extra: Record<string, unknown>): Reply {
  const self = `/api/v1/sync/runs/${runId}`;
  return new Reply(202, { run_id: runId, status: 'queued', kind, ...extra, links: { self } }, { Location: self });
}

export function syncRoutes(): RouteDef[] {
  return [
    {
      method: 'post', path: '/api/v1/sync', operationId: 'sync.enqueue', tag: 'sync', access: 'admin', cache: 'none', successStatus: 202, errors: [503],
      summary: 'Enqueue a sync run (full or incremental) of some or all entities',
      async handler(input) {
        const entities: string[] = input.body.entities ?? [...ENTITY_NAMES];
        const runId = await enqueuer(input).sync({ mode: input.body.mode, entities, requestedBy: who(input) });
        return accepted(runId, 'sync', { mode: input.body.mode, entities });
      },
    },
    {
      method: 'post', path: '/api/v1/replay', operationId: 'replay.enqueue', tag: 'sync', access: 'admin', cache: 'none', successStatus: 202, errors: [503],
      summary: 'Enqueue a replay: rebuild typed tables and rollups from raw, without a request to QBench',
      async handler(input) {
        const entities: string[] | undefined = input.body.entities;
        const runId = await enqueuer(input).replay({ entities, requestedBy: who(input) });
        return accepted(runId, 'replay', { mode: 'replay', entities: entities ?? [] });
      },
    },
    {
      method: 'post', path: '/api/v1/backfill', operationId: 'backfill.enqueue', tag: 'sync', access: 'admin', cache: 'none', successStatus: 202, errors: [503],
      summary: 'Enqueue a backfill: fetch [from, to) again in resumable chunks',
      async handler(input) {
        const { from, to } = input.body as { from: string; to: string };
        if (Date.parse(from) >= Date.parse(to)) throw badRequest([{ parameter: 'to', in: 'body', rule: 'range', message: 'must be after from' }]);
        const entities: string[] = input.body.entities ?? [...ENTITY_NAMES];
        const runId = await enqueuer(input).backfill({ entities, from, to, requestedBy: who(input) });
        return accepted(runId, 'backfill', { mode: 'backfill', entities, from, to });
      },
    },
    {
      method: 'get', path: '/api/v1/sync/runs', operationId: 'sync.runs', tag: 'sync', access: 'token', cache: 'none',
      summary: 'Recent runs (sync, backfill, replay), newest first',
      async handler({ query, deps }) {
        const runs = query.status || query.mode ? await listRunsFiltered(deps.db.pool, { limit: query.limit, status: query.status, mode: query.mode }) : await listRuns(deps.db.pool, query.limit);
        return { runs: runs.map(runJson) };
      },
    },
    {
      method: 'get', path: '/api/v1/sync/runs/{id}', operationId: 'sync.run', tag: 'sync', access: 'token', cache: 'none', errors: [404],
      summary: 'One run with its per-entity progress and results',
      async handler({ params, deps }) {
        const run = await getRun(deps.db.pool, params.id);
        if (!run) throw notFound(`run ${params.id}`);
        const { entity_rows, ...rest } = run;
        return { ...runJson(rest), entities_progress: (entity_rows as Record<string, unknown>[]).map(entityJson) };
      },
    },
  ];
}

const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : d == null ? null : String(d));

export function runJson(r: Record<string, any>): Record<string, unknown> {
  return {
    run_id: r.run_id, mode: r.mode, entities: r.entities, status: r.status, requested_by: r.requested_by,
    created_at: iso(r.created_at), started_at: iso(r.started_at), finished_at: iso(r.finished_at),
    pages: r.pages, records: r.records, new_bodies: r.new_bodies, detail_fetches: r.detail_fetches, requests: r.requests,
    retries: r.retries, rate_limited: r.rate_limited, skipped_pages: r.skipped_pages ?? [], duration_ms: r.duration_ms ?? null,
    error: r.error ?? null, options: r.options ?? {},
  };
}

function entityJson(e: Record<string, any>): Record<string, unknown> {
  return {
    entity: e.entity, status: e.status, started_at: iso(e.started_at), finished_at: iso(e.finished_at), total_pages: e.total_pages ?? null,
    pages: e.pages, records: e.records, new_bodies: e.new_bodies, detail_fetches: e.detail_fetches, requests: e.requests,
    retries: e.retries, rate_limited: e.rate_limited, skipped_pages: e.skipped_pages ?? [], duration_ms: e.duration_ms ?? null, error: e.error ?? null,
  };
}
