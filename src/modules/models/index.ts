import { Elysia, t } from 'elysia';
import type { Config } from '../../config/index.ts';
import type { AuthGuard } from '../../http/auth.ts';
import { clientIp } from '../../http/client-ip.ts';
import { AppError } from '../../http/errors.ts';
import type { Limits } from '../../http/limits.ts';
import { sseResponse } from '../../http/sse.ts';
import type { StreamBuffers } from '../streams/buffer.ts';
import { followAsSse } from '../streams/follow.ts';
import { ModelBody, ModelList, OllamaStatus, RateLimitStatus, StatelessChatBody, StatelessReply } from './model.ts';
import type { ModelsService } from './service.ts';

const tags = ['Models'];

export function modelsModule({ config, models, buffers, guard, limits }: { config: Config; models: ModelsService; buffers: StreamBuffers; guard: AuthGuard; limits: Limits }) {
  return new Elysia({ name: 'models', prefix: '/api/v1' })
    .use(limits.general())
    .use(guard)
    .get('/models', async () => ({ data: await models.list() }), {
      response: { 200: ModelList },
      detail: { tags, summary: 'Every model of the configured providers (upstream lists where they can give one)' },
    })
    .post(
      '/chat',
      async ({ caller, body, request, server }) => {
        const started = await models.startStateless(caller, clientIp(request, server, config.trustProxy), body);
        const result = await started.done;
        if (result.status === 'error') throw new AppError('upstream_error', result.error?.message ?? 'The model provider failed');
        return { reply: result.text, provider: result.provider, model: result.model, usage: result.usage };
      },
      { auth: true, body: StatelessChatBody, response: { 200: StatelessReply }, detail: { tags: ['Chat'], summary: 'One reply, not stored in any chat' } },
    )
    .post(
      '/chat/stream',
      async ({ caller, body, request, server }) => {
        const started = await models.startStateless(caller, clientIp(request, server, config.trustProxy), body);
        return sseResponse((signal) => followAsSse(buffers, started.streamId, { signal }));
      },
      {
        auth: true,
        body: StatelessChatBody,
        detail: { tags: ['Chat'], summary: 'One reply, not stored, as SSE: start, delta…, done or error' },
      },
    )
    .get('/rate-limit', ({ caller, request, server }) => models.rateLimit(caller, clientIp(request, server, config.trustProxy)), {
      auth: true,
      response: { 200: RateLimitStatus },
      detail: { tags, summary: 'LLM call limits in force and what the caller has left' },
    })
    .get('/models/:id/status', ({ params }) => models.ollamaStatus(params.id), {
      admin: true,
      params: t.Object({ id: t.String({ minLength: 1, maxLength: 200 }) }),
      response: { 200: OllamaStatus },
      detail: { tags: ['Models', 'Admin'], summary: 'Whether an Ollama model is installed and loaded' },
    })
    .post(
      '/models/start',
      async ({ body }) => {
        await models.startOllama(body.model);
        return models.ollamaStatus(body.model);
      },
      { admin: true, body: ModelBody, response: { 200: OllamaStatus }, detail: { tags: ['Models', 'Admin'], summary: 'Load an Ollama model and keep it loaded' } },
    )
    .post(
      '/models/stop',
      async ({ body }) => {
        await models.stopOllama(body.model);
        return models.ollamaStatus(body.model);
      },
      { admin: true, body: ModelBody, response: { 200: OllamaStatus }, detail: { tags: ['Models', 'Admin'], summary: 'Unload an Ollama model' } },
    );
}
