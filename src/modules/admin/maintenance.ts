import { Elysia, t } from 'elysia';
import type { RouteBundle } from '../../http/routes.ts';
import type { KeyValueStore } from '../../infra/kv/index.ts';
import type { Housekeeping } from './housekeeping.ts';

const tags = ['Admin'];
// Everything cached lives under this KV prefix, so clearing it can never touch sessions or streams.
const cachePrefix = 'cache:';

export type MaintenanceDeps = {
  kv: KeyValueStore;
  routes: RouteBundle;
  housekeeping: Pick<Housekeeping, 'runNow'>;
};

const count = (description: string) => t.Integer({ minimum: 0, description });
const CleanupReport = t.Object({
  sessions: count('Sessions deleted: ended (signed out, revoked) or expired, with their refresh tokens'),
  refreshTokens: count('Expired refresh tokens deleted (besides those of the deleted sessions)'),
  oneTimeTokens: count('Mailed one-time tokens (password reset, email verification) deleted: used or expired'),
  total: count('Rows deleted in all'),
  ranAt: t.String({ format: 'date-time', description: 'When this run started' }),
});

/** Admin housekeeping: the shared cache, and sessions and tokens that can never be used again. */
export function maintenanceRoutes({ kv, routes, housekeeping }: MaintenanceDeps) {
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
    .post(
      '/sessions/cleanup',
      async () => {
        const ranAt = new Date().toISOString();
        const removed = await housekeeping.runNow();
        const { sessions = 0, refreshTokens = 0, oneTimeTokens = 0 } = removed;
        return { sessions, refreshTokens, oneTimeTokens, total: Object.values(removed).reduce((sum, n) => sum + n, 0), ranAt };
      },
      {
        admin: true,
        response: { 200: CleanupReport },
        detail: {
          tags,
          summary: 'Run the housekeeping now: delete ended sessions and spent or expired tokens; returns how many of each',
          description:
            'The same clean-up every instance schedules once per HOUSEKEEPING_INTERVAL_MS across the deployment. Idempotency records, stream buffers and rate-limit windows live in the KV with a TTL and expire by themselves.',
        },
      },
    );
}
