import { Elysia } from 'elysia';
import { authGuard } from './http/auth.ts';
import { corsPolicy } from './http/cors.ts';
import { errorHandler } from './http/error-handler.ts';
import { createLimits } from './http/limits.ts';
import { requestGuard } from './http/request-log.ts';
import type { Infra } from './infra/index.ts';
import { createProviders, streamWithResilience } from './infra/llm/index.ts';
import { adminModule } from './modules/admin/index.ts';
import { maintenanceRoutes } from './modules/admin/maintenance.ts';
import { authModule } from './modules/auth/index.ts';
import { createAuthService } from './modules/auth/service.ts';
import { createGenerations, type ModelRunner } from './modules/chats/generation.ts';
import { chatsModule } from './modules/chats/index.ts';
import { createLlmLimits } from './modules/chats/llm-limits.ts';
import { createChatsRepository } from './modules/chats/repository.ts';
import { createChatSearch } from './modules/chats/search.ts';
import { createChatsService } from './modules/chats/service.ts';
import { toMessageView } from './modules/chats/views.ts';
import { docsModule } from './modules/docs/index.ts';
import { healthModule } from './modules/health/index.ts';
import { modelsModule } from './modules/models/index.ts';
import { createModelResolver, createModelsService } from './modules/models/service.ts';
import { createUserEvents } from './modules/realtime/events.ts';
import { createRealtimeHub } from './modules/realtime/hub.ts';
import { realtimeModule } from './modules/realtime/index.ts';
import { createStreamBuffers } from './modules/streams/buffer.ts';
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

/** The services behind the routes, built once per process from the infra. */
export function createServices(infra: Infra) {
  const { config, log } = infra;
  const users = createUsersService(infra.db);
  const auth = createAuthService(infra, users);
  const providers = createProviders(config, log);
  const resolveModel = createModelResolver(providers);
  const runModel: ModelRunner = (request, signal) =>
    streamWithResilience({
      providers: providers.providers,
      attempts: [{ provider: request.provider, model: request.model }, ...config.llm.fallbacks],
      request,
      signal,
      firstTokenTimeoutMs: config.llm.firstTokenTimeoutMs,
      totalTimeoutMs: config.llm.totalTimeoutMs,
      maxRetries: config.llm.maxRetries,
      retryBaseMs: config.llm.retryBaseMs,
      log,
    });
  const buffers = createStreamBuffers(infra.kv);
  const events = createUserEvents(infra);
  const chatsRepository = createChatsRepository(infra.db);
  const generations = createGenerations(infra, {
    buffers,
    chats: chatsRepository,
    runModel,
    recordUsage: ({ userId, provider, model, usage }) =>
      users.repository.recordUsage({ userId, day: new Date().toISOString().slice(0, 10), provider, model, ...usage }),
    onFinished: (userId, message) => void events.publish(userId, { type: 'message.updated', chatId: message.chatId, message: toMessageView(message) }),
  });
  const llmLimits = createLlmLimits(infra);
  const chats = createChatsService(infra, { chats: chatsRepository, generations, resolveModel, limits: llmLimits, search: createChatSearch(infra.db), events });
  const models = createModelsService(infra, { providers, resolveModel, generations, limits: llmLimits });
  const streams = createStreamsService(infra, buffers);
  const realtime = createRealtimeHub(infra, { resolveCaller: auth.resolveCaller, chats, buffers, events });
  return { users, auth, buffers, events, generations, chats, models, streams, realtime };
}

export type Services = ReturnType<typeof createServices>;

/** The whole HTTP surface. The only place that knows every module. */
export function createApp(infra: Infra, services: Services = createServices(infra)) {
  const { users, auth, buffers, chats, models, streams, realtime } = services;
  const guard = authGuard(auth.resolveCaller);
  const limits = createLimits(infra);
  const config = infra.config;
  return new Elysia({
    name: 'parley',
    // A socket that stops reading is closed once 1 MiB waits for it; idle ones are pinged, then closed.
    websocket: { idleTimeout: 60, sendPings: true, backpressureLimit: 1024 * 1024, closeOnBackpressureLimit: true, maxPayloadLength: 256 * 1024 },
  })
    .use(errorHandler(infra.log))
    .use(requestGuard({ log: infra.log, maxJsonBytes, maxUploadBytes: maxRequestBytes(config.maxFileSize) }))
    .use(corsPolicy(config.corsOrigins))
    .use(docsModule({ version }))
    .use(healthModule(infra))
    .use(authModule({ config, auth, users, guard, limits }))
    .use(usersModule({ users, guard, limits }))
    .use(adminModule({ users, guard, limits }))
    .use(maintenanceRoutes({ kv: infra.kv, guard, limits, cleanupSessions: auth.cleanup }))
    .use(modelsModule({ config, models, buffers, guard, limits }))
    .use(chatsModule({ config, chats, buffers, guard, limits }))
    .use(streamsModule({ streams, buffers, guard, limits }))
    .use(realtimeModule({ config, hub: realtime }));
}

export type App = ReturnType<typeof createApp>;
