import { Elysia } from 'elysia';
import { canonicalProvider } from '../../config/vocabulary.ts';
import type { UserCaller } from '../../http/auth.ts';
import { mayFail } from '../../http/docs.ts';
import { invalid } from '../../http/errors.ts';
import type { ReplayStream } from '../../http/idempotency.ts';
import type { RouteBundle } from '../../http/routes.ts';
import type { SseItem } from '../../http/sse.ts';
import type { Sampling } from '../../infra/llm/types.ts';
import type { ModelsService } from '../models/service.ts';
import type { RepliesService } from '../replies/service.ts';
import { Completion, type CompletionBody, CompletionBody as CompletionSchema, maxContentLength } from './model.ts';
import { openAiModelRoutes } from './models.ts';

const tags = ['OpenAI-compatible'];
const encoder = new TextEncoder();

const textOf = (content: CompletionBody['messages'][number]['content']) =>
  typeof content === 'string' ? content : content.map((part) => part.text ?? '').join('');

/** `null` in OpenAI's request means "the default": the same as leaving the field out. */
const given = <T>(value: T | null | undefined): T | undefined => value ?? undefined;

/**
 * Refuses, naming the field, what Parley cannot honour (everything else is either sent on or
 * harmlessly ignored): more than one choice, log probabilities (no provider path returns them),
 * and audio output.
 */
function refuseWhatCannotBeHonoured(body: CompletionBody): void {
  const n = given(body.n);
  if (n !== undefined && n > 1) throw invalid('body.n', 'Parley returns one choice per completion: n must be 1');
  if (body.logprobs === true) throw invalid('body.logprobs', 'Parley does not return log probabilities: logprobs must be false');
  if (body.modalities?.includes('audio')) throw invalid('body.modalities', 'Parley answers in text only: modalities must be ["text"]');
  // A content's limit holds for its text whatever its shape: one string, or parts joined.
  const long = body.messages.findIndex((message) => textOf(message.content).length > maxContentLength);
  if (long !== -1) throw invalid(`body.messages.${long}.content`, `holds more than ${maxContentLength} characters of text`);
}

/** OpenAI's optional request fields that a provider may honour, as the generation's sampling options. */
function samplingOf(body: CompletionBody): Sampling | undefined {
  const stop = given(body.stop);
  const format = given(body.response_format);
  const sampling: Sampling = {
    topP: given(body.top_p),
    stop: stop === undefined ? undefined : typeof stop === 'string' ? [stop] : stop,
    seed: given(body.seed),
    presencePenalty: given(body.presence_penalty),
    frequencyPenalty: given(body.frequency_penalty),
    responseFormat:
      format?.type === 'json_schema'
        ? {
            type: 'json_schema',
            jsonSchema: {
              name: format.json_schema.name,
              ...(format.json_schema.description !== undefined ? { description: format.json_schema.description } : {}),
              ...(format.json_schema.schema !== undefined ? { schema: format.json_schema.schema } : {}),
              ...(typeof format.json_schema.strict === 'boolean' ? { strict: format.json_schema.strict } : {}),
            },
          }
        : format && { type: format.type },
    user: given(body.user),
  };
  const set = Object.entries(sampling).filter(([, value]) => value !== undefined);
  return set.length ? (Object.fromEntries(set) as Sampling) : undefined;
}

/** OpenAI's chat messages as a stateless reply: system text apart, the last user turn as the message. */
function toStateless(body: CompletionBody) {
  const system = body.messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => textOf(m.content));
  const turns = body.messages
    .filter((m) => m.role === 'user' || m.role === 'assistant')
    .map((m) => ({ role: m.role as 'user' | 'assistant', content: textOf(m.content) }));
  const last = turns.pop();
  if (last?.role !== 'user' || !last.content) throw invalid('body.messages', 'must end with a user message');
  const [first = '', ...rest] = body.model.split('/');
  // `claude/<model>` names anthropic, as `anthropic/<model>` does; the answer says `anthropic/…`.
  const provider = rest.length > 0 ? canonicalProvider(first) : undefined;
  return {
    message: last.content,
    history: turns,
    system: system.length ? system.join('\n\n') : undefined,
    provider,
    model: provider ? rest.join('/') : body.model,
    temperature: given(body.temperature),
    maxTokens: given(body.max_completion_tokens) ?? given(body.max_tokens),
    sampling: samplingOf(body),
  };
}

/** Seconds since the epoch when the reply's stream was made (its id is a UUIDv7), so a replay says the same `created`. */
function createdOf(streamId: string): number {
  const ms = Number.parseInt(streamId.replaceAll('-', '').slice(0, 12), 16);
  return Math.floor((Number.isFinite(ms) ? ms : Date.now()) / 1000);
}

/** A reply's stream as OpenAI's chat.completion.chunk lines: the same bytes for the first response and for a replay. */
function completionChunks(body: CompletionBody, streamId: string): (item: SseItem) => Uint8Array {
  const id = `chatcmpl-${streamId}`;
  const created = createdOf(streamId);
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
    // Thinking streams as `delta.reasoning_content`, the field DeepSeek and vLLM use.
    if (item.event === 'reasoning') return chunk({ reasoning_content: data.text }, null);
    if (item.event === 'error')
      return encoder.encode(`data: ${JSON.stringify({ error: { message: data.message, type: 'upstream_error', code: data.code } })}\n\n`);
    if (item.event !== 'done') return new Uint8Array(); // nothing else has a place in OpenAI's stream
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
  return format;
}

/**
 * /v1/models and /v1/chat/completions in OpenAI's wire format, so the official `openai` SDK
 * works with `baseURL: <server>/v1` and a Parley API key. Replies run like any other.
 */
export function openAiCompatModule({ models, replies, routes }: { models: ModelsService; replies: RepliesService; routes: RouteBundle }) {
  const replayCompletion: ReplayStream = (request, streamId) =>
    replies.sse(streamId, { format: completionChunks(request.body as CompletionBody, streamId) });
  /** A reply with no chat, started like any stateless one (model, then LLM limits, then the detached generation). */
  const startCompletion = async (caller: UserCaller, ip: string, body: CompletionBody) => {
    refuseWhatCannotBeHonoured(body);
    return models.startStateless(caller, ip, toStateless(body));
  };
  return new Elysia({ name: 'openai-compat', prefix: '/v1' })
    .use(routes.api())
    .use(openAiModelRoutes({ models, replies, routes }))
    .post(
      '/chat/completions',
      async ({ caller, ip, body }) => {
        const started = await startCompletion(caller, ip, body);
        const id = `chatcmpl-${started.streamId}`;
        const created = createdOf(started.streamId);
        if (!body.stream) {
          const result = await replies.result(started);
          return {
            id,
            object: 'chat.completion' as const,
            created,
            model: `${result.provider}/${result.model}`,
            choices: [
              {
                index: 0,
                // The model's thinking as DeepSeek and vLLM return it, beside (never inside) the content.
                message: {
                  role: 'assistant' as const,
                  content: result.text,
                  ...(result.reasoning ? { reasoning_content: result.reasoning } : {}),
                },
                finish_reason: result.finishReason,
              },
            ],
            usage: {
              prompt_tokens: result.usage.inputTokens,
              completion_tokens: result.usage.outputTokens,
              total_tokens: result.usage.inputTokens + result.usage.outputTokens,
            },
          };
        }
        return replies.sse(started.streamId, { format: completionChunks(body, started.streamId) });
      },
      {
        auth: true,
        // A repeat with the same Idempotency-Key replays the completion (its chunks, or its JSON).
        idempotent: { replay: replayCompletion },
        body: CompletionSchema,
        detail: {
          tags,
          summary: 'Chat completion in OpenAI’s format, streamed (SSE chunks, then [DONE]) or not',
          ...mayFail('upstream_error'),
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
