/** GET /metrics: Prometheus text exposition. No auth (bind the API to a private interface, or scrape through a proxy). */
import type client from 'prom-client';
import type { RouteDef } from '../http.js';

export function monitoringRoutes(): RouteDef[] {
  return [
    {
      method: 'get', path: '/metrics', operationId: 'prometheus', tag: 'monitoring', access: 'public', cache: 'none',
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      summary: 'Prometheus metrics: request latency per route, sync and transform counters, QBench requests/retries/429s, queue depth, last successful sync per entity',
      async handler({ req }) {
        const registry = req.app.locals.metricsRegistry as client.Registry;
        return registry.metrics();
      },
    },
  ];
}
