/**
 * Starts the API on host:port with graceful shutdown: stop accepting, let requests in flight finish (up to
 * a grace period), then close idle keep-alive sockets.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createApp } from './app.js';
import type { AppDeps } from './http.js';

export interface ApiServer {
  url: string;
  port: number;
  server: http.Server;
  stop(graceMs?: number): Promise<void>;
}

/**
 * Requests node's HTTP parser refuses before express sees them (a request line or headers over 16 kB, a
 * malformed request line, bytes not allowed in a path): the same JSON error shape as every other answer
 * instead of node's bare `400 Bad Request` / `431` without a body.
 */
function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const sent = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
  if (err.code === 'ECONNRESET' || !socket.writable || sent) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const [code, message] =
    status === 431 ? ['request_too_large', 'the request line or headers are larger than the server accepts (16 kB)']
      : status === 408 ? ['request_timeout', 'the request was not received in time']
        : ['bad_request', 'the request is not valid HTTP (malformed request line, header or body framing)'];
  const body = JSON.stringify({ error: code, message });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
  );
}

export async function startApiServer(deps: AppDeps, opts: { host?: string; port?: number } = {}): Promise<ApiServer> {
  const app = createApp(deps);
  const server = http.createServer(app);
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  server.on('clientError', clientError);
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
