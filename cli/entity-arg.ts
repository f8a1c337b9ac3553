import { InvalidArgumentError } from 'commander';
import { parseEntityName, type EntityName } from '../ingest/index.js';

/** commander collector for a repeatable / comma-separated `--entity` (unknown names are usage errors). */
export function collectEntityArg(value: string, previous: EntityName[] = []): EntityName[] {
  const out = [...previous];
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
