import { Elysia } from 'elysia';
import type { Config } from './config/index.ts';
import { createAuditTrail } from './http/audit-trail.ts';
import { authGuard } from './http/auth.ts';
import { compression } from './http/compression.ts';
import { corsPolicy } from './http/cors.ts';
import { errorHandler } from './http/error-handler.ts';
import { idempotency } from './http/idempotency.ts';
import { createLimits } from './http/limits.ts';
import { createMetrics } from './http/metrics.ts';
import { callerLimit } from './http/rate-limit.ts';
import { requestGuard, type UploadRoute } from './http/request-log.ts';
import { createRouteBundle } from './http/routes.ts';
import { transportPolicy } from './http/transport.ts';
import type { Infra } from './infra/index.ts';
import { createStreamBuffers } from './infra/kv/stream-buffers.ts';
import { createProviders } from './infra/llm/index.ts';
import { createHousekeeping } from './modules/admin/housekeeping.ts';
import { adminModule } from './modules/admin/index.ts';
import { maintenanceRoutes } from './modules/admin/maintenance.ts';
import { type AdminLiveSources, createAdminService } from './modules/admin/service.ts';
import { anthropicCompatModule, anthropicErrorDialect } from './modules/anthropic-compat/index.ts';
import { authModule } from './modules/auth/index.ts';
import { createAuthService } from './modules/auth/service.ts';
import { chatsModule } from './modules/chats/index.ts';
import { createChatsService } from './modules/chats/service.ts';
import { docsModule, docsPageCsp } from './modules/docs/index.ts';
import { filesModule, uploadPaths } from './modules/files/index.ts';
import { createFilesService } from './modules/files/service.ts';
import { healthModule } from './modules/health/index.ts';
import { modelsModule } from './modules/models/index.ts';
import { createModelsService } from './modules/models/service.ts';
import { openAiCompatModule, openAiErrorDialect } from './modules/openai-compat/index.ts';
import { createResponsesService } from './modules/openai-compat/responses-service.ts';
import { pipelinesModule } from './modules/pipelines/index.ts';
import { createPipelinesService, type PipelineSources } from './modules/pipelines/service.ts';
import { liveSseGuard, realtimeModule } from './modules/realtime/index.ts';
import { createLiveConnections, createRealtimeHub, createUserEvents } from './modules/realtime/service.ts';
import { createRepliesService } from './modules/replies/service.ts';
import { streamsModule } from './modules/streams/index.ts';
import { createStreamsService } from './modules/streams/service.ts';
import { transcriptsModule } from './modules/transcripts/index.ts';
import { createTranscriptsService } from './modules/transcripts/service.ts';
import { usersModule } from './modules/users/index.ts';
import { createUsersService } from './modules/users/service.ts';
import { voiceModule, voiceUploads } from './modules/voice/index.ts';
import { createVoiceService } from './modules/voice/service.ts';
import { version } from './version.ts';

const maxJsonBytes = 1024 * 1024;

/**
 * The most bytes one request may carry (Bun's maxRequestBodySize, and the most an upload may
 * declare): a full upload-multiple, with room for each part's headers, or a JSON body. Each file
 * is held to MAX_FILE_SIZE as it streams; this is only the outer bound.
 */
export function maxRequestBytes(config: { maxFileSize: number; maxFilesPerUpload: number }): number {
  return Math.max((config.maxFileSize + 64 * 1024) * config.maxFilesPerUpload, maxJsonBytes) + 64 * 1024;
}

/** Every route that takes multipart uploads: files' (streamed, each file counted by the route) and voice's (counted by the guard). */
function uploadRoutes(config: Config): ReadonlyMap<string, UploadRoute> {
  return new Map<string, UploadRoute>([
    ...uploadPaths.map((path): [string, UploadRoute] => [path, { maxBytes: maxRequestBytes(config), streamed: true }]),
    ...voiceUploads(config.maxFileSize).map(([path, maxBytes]): [string, UploadRoute] => [path, { maxBytes }]),
  ]);
}

const layerRow = (namespace: string, layer: 'l1' | 'l2', value: number): [Record<string, string>, number] => [{ namespace, layer }, value];

/**
 * What a deployment (or a test) plugs into the services: where pipelines' `file` and `transcribe`
 * steps read, and the queue depth the admin overview shows (the pipelines queue's by default).
 */
export type ServiceOptions = { pipelineSources?: PipelineSources; queueDepth?: AdminLiveSources['queueDepth'] };

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
  const files = createFilesService(infra, { replies });
  const chats = createChatsService(infra, { replies, events, files });
  const limitPerCaller = (name: string, max: number, windowMs: number) =>
    callerLimit({ kv: infra.kv, log, enabled: config.rateLimit.enabled, name, max, windowMs });
  const searchLimit = limitPerCaller('search', config.rateLimit.searchPerMinute, 60_000);
  const uploadLimit = limitPerCaller('upload', config.rateLimit.uploadsPerHour, 3_600_000);
  // The per-IP budgets (general, auth), as the route bundle applies them and GET /rate-limit reads them.
  const limits = createLimits(infra);
  const models = createModelsService(infra, { providers, replies, searchLimit, uploadLimit, limits, files });
  const streams = createStreamsService(infra, buffers);
  const responses = createResponsesService(infra, { models, replies });
  const voice = createVoiceService(infra, { replies, chats, models });
  const transcripts = createTranscriptsService(infra, { chats });
  // The `file` and `transcribe` steps read the owner's files through the files and voice services.
  const sources: PipelineSources = options.pipelineSources ?? {
    fileText: (userId, fileId, maxChars) => files.textOf(userId, fileId, maxChars),
    transcribe: async (userId, fileId, signal) => {
      const { file, stream } = await files.open(userId, fileId);
      const audio = new Blob([await Bun.readableStreamToBytes(stream)], { type: file.contentType });
      return (await voice.transcribeStored(userId, audio, signal)).text;
    },
  };
  const pipelines = createPipelinesService(infra, { replies, users, auth, events, buffers, metrics, sources });
  const live = createLiveConnections(infra, auth.revocations);
  const realtime = createRealtimeHub(infra, { resolveCaller: auth.resolveCaller, chats, replies, events, live });
  const admin = createAdminService(infra, {
    users,
    live: {
      activeReplies: replies.activeCount,
      clusterReplies: replies.clusterActiveCount,
      websockets: () => realtime.stats().sockets,
      queueDepth: options.queueDepth ?? (async () => (await pipelines.queueCounts()).waiting),
    },
  });
  // One scheduler of periodic clean-ups; the server starts it (tests only when they ask).
  const housekeeping = createHousekeeping({
    kv: infra.kv,
    log,
    intervalMs: config.housekeepingIntervalMs,
    instanceId: crypto.randomUUID(),
    tasks: [
      { name: 'credentials', run: auth.cleanup },
      { name: 'orphaned uploads', run: files.sweepOrphans },
      { name: 'usage roll-up', run: () => users.rollUpUsage() },
      { name: 'expired responses', run: responses.sweep },
    ],
  });
  /** Shutdown, before the infra closes: housekeeping, live connections and revocation notices stop their timers and subscriptions. */
  const close = async () => {
    await pipelines.drain(0);
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
    limits,
    streams,
    responses,
    voice,
    files,
    transcripts,
    pipelines,
    realtime,
    buffers,
    live,
    searchLimit,
    uploadLimit,
    housekeeping,
    admin,
    close,
  };
}

export type Services = ReturnType<typeof createServices>;

/** The whole HTTP surface. The only place that knows every module. */
export function createApp(infra: Infra, services: Services = createServices(infra)) {
  const {
    metrics,
    users,
    auth,
    replies,
    chats,
    models,
    streams,
    responses,
    files,
    voice,
    transcripts,
    pipelines,
    realtime,
    buffers,
    live,
    searchLimit,
    uploadLimit,
    housekeeping,
    admin,
  } = services;
  const config = infra.config;
  const routes = createRouteBundle({
    // Every admin action is written to the audit log through this one trail (see the `audit` route option).
    guard: authGuard(auth.resolveCaller, createAuditTrail({ sink: admin.audit.record, trustProxy: config.trustProxy })),
    limits: services.limits,
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
  let queueDepth = { waiting: 0, active: 0, delayed: 0 };
  metrics.addCollector(async () => {
    queueDepth = await pipelines.queueCounts();
  });
  const queueHelp = (state: string) => `Pipeline executions ${state} in the job queue (all instances' on BullMQ, this one's in process)`;
  metrics.addGauge({ name: 'parley_pipeline_queue_waiting', help: queueHelp('waiting'), read: () => queueDepth.waiting });
  metrics.addGauge({ name: 'parley_pipeline_queue_active', help: queueHelp('running'), read: () => queueDepth.active });
  metrics.addGauge({ name: 'parley_pipeline_queue_delayed', help: queueHelp('waiting to be retried'), read: () => queueDepth.delayed });
  metrics.addGauge({
    name: 'parley_pipeline_executions_running',
    help: 'Pipeline executions this instance runs',
    read: pipelines.activeCount,
  });
  metrics.addCounters({
    name: 'parley_pipeline_jobs_total',
    help: 'Pipeline execution runs this instance ended, by outcome (completed, failed, retried, released: handed back unfinished)',
    read: () => Object.entries(pipelines.jobOutcomes()).map(([outcome, value]) => [{ outcome }, value]),
  });
  metrics.addCounters({
    name: 'parley_pipeline_steps_total',
    help: 'Pipeline step attempts this instance ended, by type and outcome (succeeded, failed, retried)',
    read: pipelines.stepOutcomes,
  });
  // A streamed gateway reply holds its headers for the first token, never long enough for the server (or a proxy) to call it idle.
  const firstTokenHoldMs = Math.min(config.httpIdleTimeoutSeconds - 5, 50) * 1000;
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
      // Errors on /v1 in OpenAI's shape, on /v1/messages in Anthropic's, as their SDKs read them.
      .use(errorHandler(infra.log, [openAiErrorDialect, anthropicErrorDialect]))
      // Before the request guard, whose refusals (413, 415) end the request hooks: they carry the CSP too.
      .use(transportPolicy({ trustProxy: config.trustProxy, forceHttps: config.forceHttps, pageCsp: docsPageCsp }))
      .use(requestGuard({ log: infra.log, metrics, maxJsonBytes, uploads: uploadRoutes(config) }))
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
      .use(voiceModule({ voice, routes }))
      .use(filesModule({ files, routes, uploadLimit }))
      .use(transcriptsModule({ transcripts, routes, searchLimit }))
      .use(realtimeModule({ hub: realtime, routes }))
      .use(pipelinesModule({ pipelines, routes }))
      .use(openAiCompatModule({ models, replies, responses, routes, firstTokenHoldMs }))
      .use(anthropicCompatModule({ models, replies, routes, firstTokenHoldMs }))
  );
}

export type App = ReturnType<typeof createApp>;
