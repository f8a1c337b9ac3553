/**
 * The transform targets (one typed table each, one SQL file each under transform/sql/) in dependency order,
 * the rollup tables, and the payload keys each typed mapping knows (for the drift report).
 */
export const TARGETS = ['customers', 'orders', 'samples', 'batches', 'tests', 'assays', 'reports'] as const;
export type Target = (typeof TARGETS)[number];

export const ROLLUPS = [
  'rollup_samples_daily', 'rollup_tests_created', 'rollup_tests_reported',
  'rollup_samples_lab', 'rollup_tests_created_lab', 'rollup_tests_reported_lab', 'rollup_tat_created', 'rollup_tat_reported', 'rollup_customers_daily',
] as const;
export type Rollup = (typeof ROLLUPS)[number];

/** The schema the API reads, and the one a replay builds before swapping it in. */
export const LIVE_SCHEMA = 'qbench';
export const NEXT_SCHEMA = 'qbench_next';

export function isTarget(name: string): name is Target {
  return (TARGETS as readonly string[]).includes(name);
}

/** Accepts plural or singular names in any case ("Test", "tests"). */
export function parseTarget(input: string): Target | undefined {
  const key = input.trim().toLowerCase();
  return TARGETS.find((t) => t === key || t === `${key}s` || (t === 'batches' && key === 'batch'));
}

/** Keeps the catalog order and drops duplicates. */
export function orderTargets(targets: readonly Target[] | undefined): Target[] {
  if (!targets || targets.length === 0) return [...TARGETS];
  return TARGETS.filter((t) => targets.includes(t));
}

/**
 * Payload keys the typed mapping knows: the ones it maps to columns and the ones qbench-api.md §4 documents
 * that are kept in `payload` only. Anything else is schema drift. A key ending in `*` is a prefix.
 */
export const KNOWN_KEYS: Record<Target, readonly string[]> = {
  customers: [
    'id', 'customer_name', 'date_created', 'last_updated', 'deleted', 'phone', 'fax', 'address', 'email', 'billing_email',
    'billing_contact_name', 'comments', 'tags', 'license_number', 'account_number', 'lab', 'allied_username',
    'confident_cannabis_customer_id', 'company_discount', 'payment_term_days', 'assay_customer_discounts',
    'panel_customer_discounts', 'qbd_*', 'sync_token', 'initial_quickbooks_details', 'divisions', 'last_synced',
  ],
  orders: [
    'id', 'custom_formatted_id', 'customer_account_id', 'state', 'date_created', 'date_received', 'date_completed',
    'date_order_reported', 'date_required', 'collected_date', 'collected_datetime', 'last_updated', 'sample_count',
    'test_count', 'has_report', 'partially_complete', 'report_emailed', 'division', 'division_id', 'email_to', 'tags',
    'special_instructions', 'customer_comments', 'requested_by', 'requested_by_id', 'order_request*', 'sampling_*',
    'cc_id', 'cc_order_status', 'cc_sync_status', 'cc_latest_sync', 'deleted',
  ],
  samples: [
    'id', 'order_id', 'custom_formatted_id', 'sample_name', 'description', 'leaf_id', 'has_report', 'batches', 'batch_ids',
    'completed_date', 'complete_date', 'date_created', 'start_date', 'matrix_type', 'accessioning_type', 'state',
    'test_count', 'sample_weight', 'last_updated', 'deleted',
  ],
  batches: [
    'id', 'assay_id', 'display_name', 'date_created', 'date_prepared', 'last_updated', 'sample_ids', 'test_ids',
    'batch_status', 'batch_complete', 'batch_processed', 'worksheet_id', 'worksheet_json', 'worksheet_data', 'tags',
    'tech', 'deleted',
  ],
  tests: [
    'id', 'sample_id', 'batches', 'batch_ids', 'assay_id', 'assay', 'label_abbr', 'title', 'state', 'has_report',
    'report_completed_date', 'date_created', 'start_date', 'complete_date', 'estimated_start_date',
    'estimated_complete_date', 'results', 'tech_id', 'tags', 'comments', 'last_updated', 'deleted', 'worksheet_data',
    'worksheet_json', 'worksheet_raw',
  ],
  assays: ['id', 'title', 'label_abbr', 'duration', 'default_technician_id', 'tags', 'date_created', 'last_updated', 'deleted'],
  reports: [
    'id', 'order_id', 'sample_id', 'test_id', 'report_config_id', 'id_hash', 'date_generated', 'date_published',
    'date_public', 'date_emailed', 'render_status', 'state', 'is_public', 'emailed', 'generated_by', 'render_params',
    'url', 'last_updated', 'deleted',
  ],
};
