import { InvalidArgumentError } from 'commander';
import { parseEntityName, type EntityName } from '../ingest/index.js';

/** commander collector for a repeatable / comma-separated `--entity` (unknown names are usage errors). */
export function collectEntityArg(value: string, previous: EntityName[] = []): EntityName[] {
  const out = [...previous];
  // An empty value (`--entity ""`, `--entity ,`) would leave the list empty: a backfill then took every
  // default entity and reset-watermark did nothing, both without a word.
  if (!value.split(',').some((p) => p.trim())) throw new InvalidArgumentError(`expected an entity name (got "${value}")`);
  for (const part of value.split(',')) {
    if (!part.trim()) continue;
    try {
      const e = parseEntityName(part);
      if (!out.includes(e)) out.push(e);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  }
  return out;
}
