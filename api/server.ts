/**
 * Starts the API on host:port with graceful shutdown: stop accepting, let requests in flight finish (up to
 * a grace period), then close idle keep-alive sockets.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import type { AppDeps } from './http.js';

export interface ApiServer {
  url: string;
  port: number;
  server: http.Server;
  stop(graceMs?: number): Promise<void>;
}

export async function startApiServer(deps: AppDeps, opts: { host?: string; port?: number } = {}): Promise<ApiServer> {
  const app = createApp(deps);
  const server = http.createServer(app);
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  const host = opts.host ?? deps.config.api.host;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? deps.config.api.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    server,
    stop(graceMs = 10_000) {
      stopping ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
      return stopping;
    },
  };
}
