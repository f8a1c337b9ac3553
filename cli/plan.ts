/**
 * `qbsync sync --dry-run`: what a sync would do. Reads checkpoints and watermarks, asks QBench for page 1
 * of each entity that needs a full pass (to learn total_pages), and prints the plan. Writes nothing.
 */
import type { Config, Database, Logger } from '../core/index.js';
import { entityInfo, getWatermark, makeClient, listCheckpoints, OVERLAP_MS, type EntityName } from '../ingest/index.js';

export interface PlanInput {
  db: Database;
  config: Config;
  baseUrl: string;
  entities: EntityName[];
  mode: 'full' | 'incremental';
  logger: Logger;
  pageSize?: number;
}

export async function printPlan(p: PlanInput): Promise<void> {
  const client = makeClient(p.config, { baseUrl: p.baseUrl, logger: p.logger });
  const cps = new Map((await listCheckpoints(p.db.pool)).map((c) => [c.entity, c]));
  let totalRequests = 0;
  const lines: string[] = [];
  for (const entity of p.entities) {
    const cp = cps.get(entity);
    const full = p.mode === 'full' || !cp || cp.status !== 'completed';
    if (full) {
      const resume = cp && cp.status !== 'completed' && cp.mode === 'full';
      const size = resume ? cp.page_size : (p.pageSize ?? p.config.qbench.pageSize);
      const first = await client.listPage(entity, { pageNum: 1, pageSize: size, sortBy: 'id', sortOrder: 'asc' });
      const total = first.skipped ? null : first.totalPages;
      const start = resume ? cp.next_page : 1;
      const requests = total === null ? null : Math.max(0, total - start + 1);
      if (requests !== null) totalRequests += requests;
      lines.push(
        `${entity.padEnd(10)} full pass ${resume ? `(resume at page ${start})` : 'from page 1'}: ${total ?? '?'} pages of ${size}` +
          `${first.skipped ? '' : ` (${first.totalCount ?? '?'} records)`}, ~${requests ?? '?'} requests${entity === 'tests' ? ' + detail fetches for incomplete items' : ''}`,
      );
    } else {
      const wm = await getWatermark(p.db.pool, entity);
      const since = wm ? new Date(wm.since_at.getTime() - OVERLAP_MS).toISOString() : 'unknown';
      const feed = entityInfo(entity).updatesFeed;
      totalRequests += 1;
      lines.push(`${entity.padEnd(10)} incremental since ${since}: ${feed ? '1 request to the Updates feed' : '1+ pages of the list, newest change first'}`);
    }
  }
  const { rateLimit, rateWindowSeconds } = p.config.qbench;
  const seconds = totalRequests <= rateLimit ? 0 : ((totalRequests - rateLimit) / rateLimit) * rateWindowSeconds;
  process.stdout.write(`Plan (${p.mode}) against ${p.baseUrl} — nothing will be written:\n`);
  for (const l of lines) process.stdout.write(`  ${l}\n`);
  process.stdout.write(
    `Estimated ${totalRequests} requests; at the rate budget of ${rateLimit} per ${rateWindowSeconds} s that is at least ${formatDuration(seconds)} of waiting for the budget (plus QBench's response times).\n`,
  );
}

function formatDuration(s: number): string {
  if (s < 1) return 'no time';
  if (s < 120) return `${Math.ceil(s)} s`;
  if (s < 7200) return `${Math.ceil(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
