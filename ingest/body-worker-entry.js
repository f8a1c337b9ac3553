// Entry of a body-preparation worker thread (body-pool.ts). Workers do not inherit a loader registered through
// tsx's API (bin/qbsync.js), so this plain-JavaScript entry registers it before loading the TypeScript module.
import { register } from 'tsx/esm/api';
register();
await import('./body-worker.ts');
