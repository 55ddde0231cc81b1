import { Elysia, t } from 'elysia';
import type { RouteBundle } from '../../http/routes.ts';
import type { KeyValueStore } from '../../infra/kv/index.ts';

const tags = ['Admin'];
// Everything cached lives under this KV prefix, so clearing it can never touch sessions or streams.
const cachePrefix = 'cache:';

export type MaintenanceDeps = {
  kv: KeyValueStore;
  routes: RouteBundle;
  cleanupSessions: () => Promise<{ sessions: number; refreshTokens: number; oneTimeTokens: number }>;
};

/** Admin housekeeping: the shared cache, and sessions and tokens that can never be used again. */
export function maintenanceRoutes({ kv, routes, cleanupSessions }: MaintenanceDeps) {
  return new Elysia({ name: 'admin-maintenance', prefix: '/api/v1/admin' })
    .use(routes.api())
    .get('/cache/stats', async () => ({ kind: kv.kind, status: kv.status(), keys: await kv.countMatching(`${cachePrefix}*`) }), {
      admin: true,
      response: { 200: t.Object({ kind: t.String(), status: t.String(), keys: t.Integer() }) },
      detail: { tags, summary: 'What the shared cache holds (model lists and other derived data)' },
    })
    .post('/cache/clear', async ({ body }) => ({ cleared: await kv.deleteMatching(`${cachePrefix}${body?.pattern ?? '*'}`) }), {
      admin: true,
      body: t.Optional(
        t.Object({ pattern: t.Optional(t.String({ minLength: 1, maxLength: 200, description: 'Glob within the cache, e.g. models*' })) }),
      ),
      response: { 200: t.Object({ cleared: t.Integer() }) },
      detail: { tags, summary: 'Drop cached entries (all, or those matching a glob)' },
    })
    .post('/sessions/cleanup', () => cleanupSessions(), {
      admin: true,
      response: { 200: t.Object({ sessions: t.Integer(), refreshTokens: t.Integer(), oneTimeTokens: t.Integer() }) },
      detail: { tags, summary: 'Delete ended sessions and spent or expired tokens; returns how many' },
    });
}
