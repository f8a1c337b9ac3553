/** Public surface of the reporting API room. */
export { createApp, allRoutes, type QbsyncApp } from './app.js';
export { startApiServer, type ApiServer } from './server.js';
export { buildOpenApi } from './openapi.js';
export { responseErrors, schemaFiles } from './validate.js';
export type { AppDeps, RouteDef } from './http.js';
export type { Enqueuer } from './jobs.js';
export { addUser, setPassword, removeUser, listUsers, setAdmin, unlockUser, login, type UserInfo } from './auth/users.js';
export { createApiToken, listTokens, revokeToken, verifyToken, maskTokens, type Principal, type TokenInfo } from './auth/tokens.js';
