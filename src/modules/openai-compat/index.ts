import { Elysia } from 'elysia';
import { providerNames } from '../../config/vocabulary.ts';
import { invalid } from '../../http/errors.ts';
import type { RouteBundle } from '../../http/routes.ts';
import type { SseItem } from '../../http/sse.ts';
import type { ModelsService } from '../models/service.ts';
import type { RepliesService } from '../replies/service.ts';
import { Completion, type CompletionBody, CompletionBody as CompletionSchema, OpenAiModelList } from './model.ts';

const tags = ['OpenAI-compatible'];
const encoder = new TextEncoder();

const textOf = (content: CompletionBody['messages'][number]['content']) =>
  typeof content === 'string' ? content : content.map((part) => part.text ?? '').join('');

/** OpenAI's chat messages as Parley's stateless chat: system text apart, the last user turn as the message. */
function toStateless(body: CompletionBody) {
  const system = body.messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => textOf(m.content));
  const turns = body.messages
    .filter((m) => m.role === 'user' || m.role === 'assistant')
    .map((m) => ({ role: m.role as 'user' | 'assistant', content: textOf(m.content) }));
  const last = turns.pop();
  if (last?.role !== 'user' || !last.content) throw invalid('body.messages', 'must end with a user message');
  const [first, ...rest] = body.model.split('/');
  const named = rest.length > 0 && (providerNames as readonly string[]).includes(first!);
  return {
    message: last.content,
    history: turns,
    system: system.length ? system.join('\n\n') : undefined,
    provider: named ? first : undefined,
    model: named ? rest.join('/') : body.model,
    temperature: body.temperature,
    maxTokens: body.max_completion_tokens ?? body.max_tokens,
  };
}

/**
 * /v1/models and /v1/chat/completions in OpenAI's wire format, so the official `openai` SDK
 * works with `baseURL: <server>/v1` and a Parley API key. Replies run like any other.
 */
export function openAiCompatModule({ models, replies, routes }: { models: ModelsService; replies: RepliesService; routes: RouteBundle }) {
  return new Elysia({ name: 'openai-compat', prefix: '/v1' })
    .use(routes.api())
    .get(
      '/models',
      async () => ({
        object: 'list' as const,
        data: (await models.list()).map((model) => ({
          id: `${model.provider}/${model.id}`,
          object: 'model' as const,
          created: 0,
          owned_by: model.provider,
        })),
      }),
      { auth: true, response: { 200: OpenAiModelList }, detail: { tags, summary: 'Models as OpenAI lists them; ids are provider/model' } },
    )
    .post(
      '/chat/completions',
      async ({ caller, ip, body }) => {
        const started = await models.startStateless(caller, ip, toStateless(body));
        const id = `chatcmpl-${started.streamId}`;
        const created = Math.floor(Date.now() / 1000);
        if (!body.stream) {
          const result = await replies.result(started);
          return {
            id,
            object: 'chat.completion' as const,
            created,
            model: `${result.provider}/${result.model}`,
            choices: [{ index: 0, message: { role: 'assistant' as const, content: result.text }, finish_reason: result.finishReason }],
            usage: {
              prompt_tokens: result.usage.inputTokens,
              completion_tokens: result.usage.outputTokens,
              total_tokens: result.usage.inputTokens + result.usage.outputTokens,
            },
          };
        }
        let model = body.model;
        const chunk = (delta: object, finishReason: string | null, extra: object = {}) =>
          encoder.encode(
            `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finishReason }], ...extra })}\n\n`,
          );
        // OpenAI's stream: data-only lines, then `data: [DONE]`; errors as an in-band error object.
        const format = (item: SseItem): Uint8Array => {
          if ('ping' in item) return encoder.encode(': ping\n\n');
          const data = JSON.parse(item.data);
          if (item.event === 'start') {
            model = `${data.provider}/${data.model}`;
            return chunk({ role: 'assistant', content: '' }, null);
          }
          if (item.event === 'delta') return chunk({ content: data.text }, null);
          if (item.event === 'error')
            return encoder.encode(
              `data: ${JSON.stringify({ error: { message: data.message, type: 'upstream_error', code: data.code } })}\n\n`,
            );
          const usage = {
            prompt_tokens: data.usage.inputTokens,
            completion_tokens: data.usage.outputTokens,
            total_tokens: data.usage.inputTokens + data.usage.outputTokens,
          };
          const last = body.stream_options?.include_usage
            ? encoder.encode(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage })}\n\n`)
            : new Uint8Array();
          return Buffer.concat([chunk({}, data.finishReason), last, encoder.encode('data: [DONE]\n\n')]);
        };
        return replies.sse(started.streamId, { format });
      },
      {
        auth: true,
        body: CompletionSchema,
        detail: {
          tags,
          summary: 'Chat completion in OpenAI’s format, streamed (SSE chunks, then [DONE]) or not',
          responses: {
            200: {
              description: 'chat.completion, or a text/event-stream of chat.completion.chunk',
              content: { 'application/json': { schema: Completion } },
            },
          } as never,
        },
      },
    );
}
