import { Elysia } from 'elysia';
import { createAuditTrail } from './http/audit-trail.ts';
import { authGuard } from './http/auth.ts';
import { compression } from './http/compression.ts';
import { corsPolicy } from './http/cors.ts';
import { errorHandler } from './http/error-handler.ts';
import { idempotency } from './http/idempotency.ts';
import { createLimits } from './http/limits.ts';
import { createMetrics } from './http/metrics.ts';
import { callerLimit } from './http/rate-limit.ts';
import { requestGuard } from './http/request-log.ts';
import { createRouteBundle } from './http/routes.ts';
import { transportPolicy } from './http/transport.ts';
import type { Infra } from './infra/index.ts';
import { createStreamBuffers } from './infra/kv/stream-buffers.ts';
import { createProviders } from './infra/llm/index.ts';
import { createHousekeeping } from './modules/admin/housekeeping.ts';
import { adminModule } from './modules/admin/index.ts';
import { maintenanceRoutes } from './modules/admin/maintenance.ts';
import { type AdminLiveSources, createAdminService } from './modules/admin/service.ts';
import { authModule } from './modules/auth/index.ts';
import { createAuthService } from './modules/auth/service.ts';
import { chatsModule } from './modules/chats/index.ts';
import { createChatsService } from './modules/chats/service.ts';
import { docsModule, docsPageCsp } from './modules/docs/index.ts';
import { healthModule } from './modules/health/index.ts';
import { modelsModule } from './modules/models/index.ts';
import { createModelsService } from './modules/models/service.ts';
import { openAiCompatModule } from './modules/openai-compat/index.ts';
import { liveSseGuard, realtimeModule } from './modules/realtime/index.ts';
import { createLiveConnections, createRealtimeHub, createUserEvents } from './modules/realtime/service.ts';
import { createRepliesService } from './modules/replies/service.ts';
import { streamsModule } from './modules/streams/index.ts';
import { createStreamsService } from './modules/streams/service.ts';
import { usersModule } from './modules/users/index.ts';
import { createUsersService } from './modules/users/service.ts';
import { version } from './version.ts';

const maxJsonBytes = 1024 * 1024;

/** Upload routes accept several files in one body; anything larger is refused before it is read. */
export function maxRequestBytes(maxFileSize: number): number {
  return maxFileSize * 10 + maxJsonBytes;
}

const layerRow = (namespace: string, layer: 'l1' | 'l2', value: number): [Record<string, string>, number] => [{ namespace, layer }, value];

/** What the composition may add to the services: the pipelines queue's depth, once a queue exists. */
export type ServiceOptions = { queueDepth?: AdminLiveSources['queueDepth'] };

/** The services behind the routes, built once per process from the infra. */
export function createServices(infra: Infra, options: ServiceOptions = {}) {
  const { config, log } = infra;
  const metrics = createMetrics();
  const users = createUsersService(infra.db, infra.cache);
  const auth = createAuthService(infra, users);
  const providers = createProviders(config, log);
  const buffers = createStreamBuffers(infra.kv, { idleMs: config.ssePingMs });
  const events = createUserEvents(infra);
  const replies = createRepliesService(infra, { providers, buffers, users, metrics });
  const chats = createChatsService(infra, { replies, events });
  const searchLimit = callerLimit({
    kv: infra.kv,
    log,
    enabled: config.rateLimit.enabled,
    name: 'search',
    max: config.rateLimit.searchPerMinute,
    windowMs: 60_000,
  });
  const models = createModelsService(infra, { providers, replies, searchLimit });
  const streams = createStreamsService(infra, buffers);
  const live = createLiveConnections(infra, auth.revocations);
  const realtime = createRealtimeHub(infra, { resolveCaller: auth.resolveCaller, chats, replies, events, live });
  const admin = createAdminService(infra, {
    users,
    live: {
      activeReplies: replies.activeCount,
      clusterReplies: replies.clusterActiveCount,
      websockets: () => realtime.stats().sockets,
      queueDepth: options.queueDepth,
    },
  });
  // One scheduler of periodic clean-ups; the server starts it (tests only when they ask).
  const housekeeping = createHousekeeping({
    kv: infra.kv,
    log,
    intervalMs: config.housekeepingIntervalMs,
    instanceId: crypto.randomUUID(),
    tasks: [{ name: 'credentials', run: auth.cleanup }],
  });
  /** Shutdown, before the infra closes: housekeeping, live connections and revocation notices stop their timers and subscriptions. */
  const close = async () => {
    await housekeeping.stop();
    await live.close();
    auth.revocations.close();
  };
  return {
    metrics,
    users,
    auth,
    replies,
    events,
    chats,
    models,
    streams,
    realtime,
    buffers,
    live,
    searchLimit,
    housekeeping,
    admin,
    close,
  };
}

export type Services = ReturnType<typeof createServices>;

/** The whole HTTP surface. The only place that knows every module. */
export function createApp(infra: Infra, services: Services = createServices(infra)) {
  const { metrics, users, auth, replies, chats, models, streams, realtime, buffers, live, searchLimit, housekeeping, admin } = services;
  const config = infra.config;
  const routes = createRouteBundle({
    // Every admin action is written to the audit log through this one trail (see the `audit` route option).
    guard: authGuard(auth.resolveCaller, createAuditTrail({ sink: admin.audit.record, trustProxy: config.trustProxy })),
    limits: createLimits(infra),
    trustProxy: config.trustProxy,
    idempotency: idempotency({
      kv: infra.kv,
      buffers,
      log: infra.log,
      ttlSeconds: config.idempotencyTtlSeconds,
      resumeTtlSeconds: config.streamTtlSeconds,
      // A repeat of a reply waits for the first as long as a reply may take.
      maxWaitMs: config.llm.totalTimeoutMs + 30_000,
    }),
  });
  metrics.addGauge({ name: 'parley_generations_active', help: 'Replies being generated by this instance', read: replies.activeCount });
  metrics.addGauge({ name: 'parley_stream_readers', help: 'SSE and websocket readers following a stream', read: replies.activeReaders });
  metrics.addGauge({ name: 'parley_websockets_open', help: 'Open websockets', read: () => realtime.stats().sockets });
  metrics.addGauge({
    name: 'parley_kv_up',
    help: '1 while the key-value store is reachable',
    read: () => (infra.kv.status() === 'ok' ? 1 : 0),
  });
  const cacheRows = () => infra.cache.counters();
  metrics.addCounters({
    name: 'parley_cache_hits_total',
    help: 'Cache reads answered, by namespace and layer (l1 this process, l2 the KV)',
    read: () => cacheRows().flatMap((row) => [layerRow(row.namespace, 'l1', row.l1Hits), layerRow(row.namespace, 'l2', row.l2Hits)]),
  });
  metrics.addCounters({
    name: 'parley_cache_misses_total',
    help: 'Cache reads a layer could not answer, by namespace and layer',
    read: () => cacheRows().flatMap((row) => [layerRow(row.namespace, 'l1', row.l1Misses), layerRow(row.namespace, 'l2', row.l2Misses)]),
  });
  metrics.addCounters({
    name: 'parley_cache_loads_total',
    help: 'Values computed from the source after missing both layers, by namespace',
    read: () => cacheRows().map((row) => [{ namespace: row.namespace }, row.loads]),
  });
  metrics.addCounters({
    name: 'parley_cache_invalidations_total',
    help: 'Invalidations this instance sent (writes that changed cached data), by namespace',
    read: () => cacheRows().map((row) => [{ namespace: row.namespace }, row.invalidations]),
  });
  metrics.addGauge({ name: 'process_resident_memory_bytes', help: 'Resident memory', read: () => process.memoryUsage.rss() });
  return (
    new Elysia({
      name: 'parley',
      // Unknown fields are refused (422) where a schema says so, rather than silently dropped.
      normalize: false,
      // A socket that stops reading is closed once 1 MiB waits for it; idle ones are pinged, then closed.
      websocket: {
        idleTimeout: 60,
        sendPings: true,
        backpressureLimit: 1024 * 1024,
        closeOnBackpressureLimit: true,
        maxPayloadLength: 256 * 1024,
      },
    })
      .use(errorHandler(infra.log))
      // Before the request guard, whose refusals (413, 415) end the request hooks: they carry the CSP too.
      .use(transportPolicy({ trustProxy: config.trustProxy, forceHttps: config.forceHttps, pageCsp: docsPageCsp }))
      .use(requestGuard({ log: infra.log, metrics, maxJsonBytes }))
      .use(corsPolicy(config.corsOrigins))
      .use(liveSseGuard(live))
      .use(compression({ minBytes: config.compressionMinBytes }))
      .use(docsModule({ version }))
      .use(healthModule(infra, metrics))
      .use(authModule({ auth, routes }))
      .use(usersModule({ users, routes }))
      .use(adminModule({ admin, users, replies, auth, routes }))
      .use(maintenanceRoutes({ kv: infra.kv, cache: infra.cache, routes, housekeeping }))
      .use(modelsModule({ models, routes }))
      .use(chatsModule({ chats, routes, searchLimit }))
      .use(streamsModule({ streams, routes }))
      .use(realtimeModule({ hub: realtime, routes }))
      .use(openAiCompatModule({ models, replies, routes }))
  );
}

export type App = ReturnType<typeof createApp>;
