import { Elysia, t } from 'elysia';
import type { RouteBundle } from '../../http/routes.ts';
import type { Cache } from '../../infra/cache/index.ts';
import type { KeyValueStore } from '../../infra/kv/index.ts';
import type { Housekeeping } from './housekeeping.ts';

const tags = ['Admin'];

const Layer = t.Object({
  hits: t.Integer({ description: 'Reads answered by this layer, on this instance since it started' }),
  misses: t.Integer(),
  hitRate: t.Number({ description: 'hits / (hits + misses), 0 before any read' }),
  keys: t.Integer({ description: 'l1: entries in this instance’s memory; l2: keys in the shared KV' }),
});
const CacheStats = t.Object({
  kind: t.String(),
  status: t.String(),
  keys: t.Integer({ description: 'Keys under the cache prefix in the KV (L2)' }),
  l1: Layer,
  l2: Layer,
  namespaces: t.Record(t.String(), t.Object({ l1: Layer, l2: Layer, loads: t.Integer(), invalidations: t.Integer() })),
});

export type MaintenanceDeps = {
  kv: KeyValueStore;
  cache: Cache;
  routes: RouteBundle;
  housekeeping: Pick<Housekeeping, 'runNow'>;
};

const count = (description: string) => t.Integer({ minimum: 0, description });
const CleanupReport = t.Object({
  sessions: count('Sessions deleted: ended (signed out, revoked) or expired, with their refresh tokens'),
  refreshTokens: count('Expired refresh tokens deleted (besides those of the deleted sessions)'),
  oneTimeTokens: count('Mailed one-time tokens (password reset, email verification) deleted: used or expired'),
  orphanedUploads: count(
    'Uploaded bytes with no file deleted: interrupted uploads and files of deleted users, an hour after their last write',
  ),
  usageRolledUp: count('Daily usage rows older than 400 days folded into one row per month'),
  total: count('Rows and blobs deleted or folded in all'),
  ranAt: t.String({ format: 'date-time', description: 'When this run started' }),
});

/** Admin housekeeping: the shared cache, and sessions and tokens that can never be used again. */
export function maintenanceRoutes({ kv, cache, routes, housekeeping }: MaintenanceDeps) {
  return new Elysia({ name: 'admin-maintenance', prefix: '/api/v1/admin' })
    .use(routes.api())
    .get(
      '/cache/stats',
      async () => {
        const stats = await cache.stats();
        return { kind: kv.kind, status: kv.status(), keys: stats.l2.keys, ...stats };
      },
      {
        admin: true,
        response: { 200: CacheStats },
        detail: {
          tags,
          summary:
            'What the cache holds (model lists, profiles and other derived data): hits, misses, hit rate and keys per layer (l1 this instance’s memory, l2 the shared KV) and per namespace; counts are this instance’s',
        },
      },
    )
    .post(
      '/cache/clear',
      async ({ body, audit }) => {
        const cleared = await cache.clear(body?.pattern);
        audit.note({ target: { type: 'cache', id: body?.pattern ?? '*' }, details: { pattern: body?.pattern ?? null, cleared } });
        return { cleared };
      },
      {
        admin: true,
        audit: 'cache.clear',
        body: t.Optional(
          t.Object({
            pattern: t.Optional(
              t.String({
                minLength: 1,
                maxLength: 200,
                description: 'Glob within the cache over `namespace:key`, e.g. models* or profiles:*',
              }),
            ),
          }),
        ),
        response: { 200: t.Object({ cleared: t.Integer() }) },
        detail: {
          tags,
          summary:
            'Drop cached entries (all, or those matching a glob over `namespace:key`) from both layers on every instance; `cleared` counts KV keys',
        },
      },
    )
    .post(
      '/sessions/cleanup',
      async ({ audit }) => {
        const ranAt = new Date().toISOString();
        const removed = await housekeeping.runNow();
        const { sessions = 0, refreshTokens = 0, oneTimeTokens = 0, orphanedUploads = 0, usageRolledUp = 0 } = removed;
        const total = Object.values(removed).reduce((sum, n) => sum + n, 0);
        const report = { sessions, refreshTokens, oneTimeTokens, orphanedUploads, usageRolledUp, total, ranAt };
        audit.note({ details: report });
        return report;
      },
      {
        admin: true,
        audit: 'sessions.cleanup',
        response: { 200: CleanupReport },
        detail: {
          tags,
          summary:
            'Run the housekeeping now: delete ended sessions, spent or expired tokens and orphaned uploads, roll old usage up by month; returns how many of each',
          description:
            'The same clean-up every instance schedules once per HOUSEKEEPING_INTERVAL_MS across the deployment. Idempotency records, stream buffers and rate-limit windows live in the KV with a TTL and expire by themselves.',
        },
      },
    );
}
