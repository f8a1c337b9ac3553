/**
 * Human progress for a TTY: one bar per entity (pages, records, rate, ETA from total_pages).
 * Off a TTY the sync's JSON log lines are the progress.
 */
import cliProgress from 'cli-progress';
import type { ProgressSink } from '../ingest/index.js';

export function progressBars(stream: NodeJS.WriteStream = process.stderr): ProgressSink & { stop(): void } {
  const multi = new cliProgress.MultiBar(
    {
      stream,
      clearOnComplete: false,
      hideCursor: true,
      format: ' {entity} |{bar}| {value}/{total} pages | {records} records | {rate} rec/s | ETA {eta_formatted} | {status}',
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, { bar: cliProgress.SingleBar; started: number }>();
  const rate = (records: number, started: number) => Math.round(records / Math.max(0.001, (Date.now() - started) / 1000));
  return {
    entityStarted(entity, info) {
      const bar = multi.create(info.totalPages ?? 1, Math.max(0, info.startPage - 1), { entity: entity.padEnd(9), records: 0, rate: 0, status: info.mode });
      bars.set(entity, { bar, started: Date.now() });
    },
    pageLanded(entity, info) {
      const b = bars.get(entity);
      if (!b) return;
      if (info.totalPages) b.bar.setTotal(info.totalPages);
      b.bar.update(info.page, { records: info.recordsDone, rate: rate(info.recordsDone, b.started) });
    },
    entityFinished(entity, info) {
      const b = bars.get(entity);
      if (!b) return;
      b.bar.update({ status: info.status, records: info.records });
      b.bar.stop();
    },
    stop() {
      multi.stop();
    },
  };
}

export function isInteractive(): boolean {
  return Boolean(process.stderr.isTTY) && !process.env.CI;
}
