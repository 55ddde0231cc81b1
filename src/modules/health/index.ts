import { Elysia } from 'elysia';
import { outageRetryAfterSeconds } from '../../http/errors.ts';
import type { Metrics } from '../../http/metrics.ts';
import type { Infra } from '../../infra/index.ts';
import { version } from '../../version.ts';
import { DetailedHealth, Liveness } from './model.ts';
import { checkHealth } from './service.ts';

export function healthModule(infra: Infra, metrics: Metrics) {
  return new Elysia({ name: 'health' })
    .get('/health', () => ({ status: 'ok' as const }), {
      response: Liveness,
      detail: { tags: ['Health'], summary: 'Liveness: the process is up and serving' },
    })
    .get(
      '/metrics',
      async ({ set }) => {
        set.headers['content-type'] = 'text/plain; version=0.0.4; charset=utf-8';
        await metrics.collect();
        return metrics.render();
      },
      {
        detail: {
          tags: ['Health'],
          summary: 'Prometheus metrics of this instance',
          responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
    )
    .get(
      '/api/v1/health/detailed',
      async ({ set }) => {
        const health = await checkHealth(infra, version);
        // Without its database the instance cannot serve: 503 (a balancer takes it out), with a hint when to look again.
        // A KV that is away is `degraded` (200): routes that need it answer 503 themselves, the rest still work.
        if (health.database.status !== 'ok') {
          set.status = 503;
          set.headers['retry-after'] = String(outageRetryAfterSeconds);
        }
        return health;
      },
      {
        response: { 200: DetailedHealth, 503: DetailedHealth },
        detail: {
          tags: ['Health'],
          summary: 'Dependencies: database, key-value store, providers, version and uptime (nothing secret)',
        },
      },
    );
}
