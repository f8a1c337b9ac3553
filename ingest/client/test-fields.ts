// v1 test list items sometimes lack fields the metrics depend on (contract §5 "Missing
// test fields"); the detail endpoint has them. The sync lands the detail for those items.

function hasKey(o: unknown, key: string): boolean {
  return !!o && typeof o === 'object' && !Array.isArray(o) && Object.prototype.hasOwnProperty.call(o, key);
}

/**
 * True when a v1 test list item is missing `label_abbr` (top level and under `assay`),
 * `title` (likewise), `has_report` or `report_completed_date`. A key that is present with
 * a null value counts as present: null is an answer ("no report yet"), a missing key is not.
 */
export function needsTestDetail(item: unknown): boolean {
  if (!item || typeof item !== 'object' || Array.isArray(item)) return true;
  const assay = (item as Record<string, unknown>).assay;
  const either = (key: string) => hasKey(item, key) || hasKey(assay, key);
  return !(either('label_abbr') && either('title') && hasKey(item, 'has_report') && hasKey(item, 'report_completed_date'));
}
