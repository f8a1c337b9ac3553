#!/usr/bin/env node
// Thin launcher so `npx qbsync` and the installed bin run the TypeScript CLI through tsx
// (no build step: the project ships as TypeScript and runs under tsx's ESM loader).
import { register } from 'tsx/esm/api';
register();
await import('../cli/main.ts');
