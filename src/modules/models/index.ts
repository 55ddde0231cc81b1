import { Elysia, t } from 'elysia';
import { eventStream, mayFail } from '../../http/docs.ts';
import type { RouteBundle } from '../../http/routes.ts';
import { ModelBody, ModelList, OllamaStatus, RateLimitStatus, StatelessChatBody, StatelessReply } from './model.ts';
import type { ModelsService } from './service.ts';

const tags = ['Models'];

export function modelsModule({ models, routes }: { models: ModelsService; routes: RouteBundle }) {
  return new Elysia({ name: 'models', prefix: '/api/v1' })
    .use(routes.api())
    .get('/models', async () => ({ data: await models.list() }), {
      response: { 200: ModelList },
      detail: { tags, summary: 'Every model of the configured providers (upstream lists where they can give one)' },
    })
    .post('/chat', ({ caller, ip, body }) => models.chat(caller, ip, body), {
      auth: true,
      idempotent: 'reply',
      body: StatelessChatBody,
      response: { 200: StatelessReply },
      detail: { tags: ['Chat'], summary: 'One reply, not stored in any chat', ...mayFail('upstream_error') },
    })
    .post('/chat/stream', ({ caller, ip, body }) => models.chatStream(caller, ip, body), {
      auth: true,
      idempotent: 'reply',
      body: StatelessChatBody,
      detail: {
        tags: ['Chat'],
        summary:
          'One reply, not stored, as SSE: start, delta… (tool_call {index, id, name, arguments} for each tool the model calls), done or error',
        responses: eventStream('text/event-stream of start, delta…, then done or error events'),
        ...mayFail('upstream_error'),
      },
    })
    .get('/rate-limit', ({ caller, ip }) => models.rateLimit(caller, ip), {
      auth: true,
      response: { 200: RateLimitStatus },
      detail: { tags, summary: 'LLM call, search and upload limits in force and what the caller has left' },
    })
    .get('/models/:id/status', ({ params }) => models.ollamaStatus(params.id), {
      admin: true,
      params: t.Object({ id: t.String({ minLength: 1, maxLength: 200 }) }),
      response: { 200: OllamaStatus },
      detail: { tags: ['Models', 'Admin'], summary: 'Whether an Ollama model is installed and loaded', ...mayFail('upstream_error') },
    })
    .post(
      '/models/start',
      async ({ body, audit }) => {
        await models.startOllama(body.model);
        const status = await models.ollamaStatus(body.model);
        audit.note({ target: { type: 'model', id: `ollama/${body.model}` }, after: status });
        return status;
      },
      {
        admin: true,
        audit: 'model.start',
        body: ModelBody,
        response: { 200: OllamaStatus },
        detail: { tags: ['Models', 'Admin'], summary: 'Load an Ollama model and keep it loaded', ...mayFail('upstream_error') },
      },
    )
    .post(
      '/models/stop',
      async ({ body, audit }) => {
        await models.stopOllama(body.model);
        const status = await models.ollamaStatus(body.model);
        audit.note({ target: { type: 'model', id: `ollama/${body.model}` }, after: status });
        return status;
      },
      {
        admin: true,
        audit: 'model.stop',
        body: ModelBody,
        response: { 200: OllamaStatus },
        detail: { tags: ['Models', 'Admin'], summary: 'Unload an Ollama model', ...mayFail('upstream_error') },
      },
    );
}
