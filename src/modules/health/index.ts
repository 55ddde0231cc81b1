import { Elysia } from 'elysia';
import type { Infra } from '../../infra/index.ts';
import { version } from '../../version.ts';
import { DetailedHealth, Liveness } from './model.ts';
import { checkHealth } from './service.ts';

export function healthModule(infra: Infra) {
  return new Elysia({ name: 'health' })
    .get('/health', () => ({ status: 'ok' as const }), {
      response: Liveness,
      detail: { tags: ['Health'], summary: 'Liveness: the process is up and serving' },
    })
    .get(
      '/api/v1/health/detailed',
      async ({ set }) => {
        const health = await checkHealth(infra, version);
        if (health.database.status !== 'ok') set.status = 503;
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
