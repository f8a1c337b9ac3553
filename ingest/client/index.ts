// Public surface of the QBench client. Import from here, not from the files behind it.
export {
  QBenchClient,
  isAuthFailure,
  API_PREFIX,
  MAX_PAGE_SIZE,
  WORKSHEET_PARAM,
  WORKSHEET_PARAM_TYPO,
  type QBenchClientOptions,
  type EntityRef,
  type FilterValue,
  type ListPageOptions,
  type PaginateOptions,
  type ListPage,
  type SkippedPage,
  type PageResult,
  type DetailResult,
  type UpdatesResult,
} from './qbench-client.js';
export { MemoryRateBudget, DEFAULT_BUDGET_LIMIT, DEFAULT_BUDGET_WINDOW_MS, type RateBudget, type MemoryRateBudgetOptions } from './rate-budget.js';
export { TokenProvider, defaultTokenUrl, type TokenProviderOptions } from './token-provider.js';
export { signAssertion, decodeJwt, DEFAULT_ASSERTION_LIFETIME_SECONDS, type AssertionClaims } from './jwt.js';
export {
  QBenchError,
  QBenchHttpError,
  QBenchTransientError,
  QBenchAuthError,
  describeRequest,
  type QueryParams,
  type RequestInfo,
} from './errors.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
export { needsTestDetail } from './test-fields.js';
export type { ClientEvent, ClientEventType, ClientEventHandler } from './events.js';
