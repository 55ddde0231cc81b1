import { Elysia } from 'elysia';
import type { UserCaller } from '../../http/auth.ts';
import { mayFail } from '../../http/docs.ts';
import { forbidden } from '../../http/errors.ts';
import type { ReplayStream } from '../../http/idempotency.ts';
import { requestInfo } from '../../http/request-context.ts';
import type { RouteBundle } from '../../http/routes.ts';
import { cancelOnAbort, failureOf, isUnknownModel, modelOf, startGatewayReply } from '../gateway/service.ts';
import type { ModelsService } from '../models/service.ts';
import type { RepliesService, StartedGeneration } from '../replies/service.ts';
import { anthropicErrors, anthropicFailure, badField, modelNotFound } from './errors.ts';
import { AnthropicMessage, CountTokens, CountTokensBody, MessagesBody } from './model.ts';
import { estimateInputTokens, toStateless, wantsThinking } from './request.ts';
import { messageEvents, messageOf } from './stream.ts';

export { anthropicErrorDialect } from './errors.ts';

const tags = ['Anthropic-compatible'];

export type AnthropicCompatOptions = {
  models: ModelsService;
  replies: RepliesService;
  routes: RouteBundle;
  /** Longest a streamed reply holds its response for the first token, in ms (as /v1/chat/completions: see OpenAiCompatOptions). */
  firstTokenHoldMs: number;
};

/**
 * POST /v1/messages and /v1/messages/count_tokens in Anthropic's Messages format
 * (docs.anthropic.com/en/api/messages), so the official `@anthropic-ai/sdk` (and
 * `@ai-sdk/anthropic`, LangChain's ChatAnthropic…) work with `baseURL: <server>` and a Parley API
 * key (`x-api-key` or Bearer). The model is `provider/model`, routed to any provider as
 * /v1/chat/completions routes it; errors are Anthropic's shape (anthropicErrorDialect, given to the
 * error handler in app.ts). These callers cannot resume a reply: leaving cancels it.
 */
export function anthropicCompatModule({ models, replies, routes, firstTokenHoldMs }: AnthropicCompatOptions) {
  const formatOf = (body: MessagesBody, streamId: string) =>
    messageEvents(streamId, { model: body.model, estimatedInputTokens: estimateInputTokens(body), thinking: wantsThinking(body) });
  const replay: ReplayStream = (request, streamId) => replies.sse(streamId, { format: formatOf(request.body as MessagesBody, streamId) });

  /** A reply with no chat, started like any stateless one; its refusals in Anthropic's words. */
  const startMessage = (caller: UserCaller, ip: string, body: MessagesBody): Promise<StartedGeneration> => {
    const { conversation, from } = toStateless(body);
    return startGatewayReply(models, caller, ip, conversation, {
      images: (error) => {
        const { messageIndex, partIndex } = error.details;
        return badField(`messages.${from[messageIndex] ?? messageIndex}.content.${partIndex}`, error.message);
      },
      unknownModel: (message) => modelNotFound(body.model, message),
    });
  };
  const failure = (started: StartedGeneration, model: string) => failureOf(replies, started, (error) => anthropicFailure(error, model));

  return (
    new Elysia({ name: 'anthropic-compat', prefix: '/v1/messages' })
      // Anthropic names each response by its `request-id` header: Parley's request id, as X-Request-Id says it.
      .onTransform(({ request, set }) => {
        const id = requestInfo(request)?.id;
        if (id) set.headers['request-id'] = id;
      })
      .use(routes.api())
      .post(
        '',
        async ({ caller, ip, body, request }) => {
          const started = await startMessage(caller, ip, body);
          cancelOnAbort(replies, request, started);
          if (!body.stream) {
            const result = await started.done;
            if (result.status === 'error') throw await failure(started, body.model);
            return messageOf(started.streamId, result, { thinking: wantsThinking(body) });
          }
          // Held until the first token: a failure before it is an HTTP error, not a 200 stream.
          const first = await replies.firstEvent(started.streamId, { signal: request.signal, timeoutMs: firstTokenHoldMs });
          if (first?.event === 'error') throw await failure(started, body.model);
          return replies.sse(started.streamId, { format: formatOf(body, started.streamId), cancelOnLeave: started.messageId });
        },
        {
          auth: true,
          // A repeat with the same Idempotency-Key replays the reply (its events, or its Message).
          idempotent: { replay },
          body: MessagesBody,
          detail: {
            tags,
            summary: 'A message in Anthropic’s Messages format, streamed (message_start … message_stop events) or not',
            description:
              'Routed to any provider: the model is `provider/model` (`anthropic/claude-…`, `openai/…`, `echo/echo`). ' +
              'Errors are in Anthropic’s shape ({type: "error", error: {type, message}}), schema violations included (400 invalid_request_error naming the field). ' +
              'An unknown model is 404 not_found_error; an upstream refusal stays the client’s (400); an upstream fault after Parley’s own retries is 502, 503 (529 overloaded_error when upstream said so) or 429, with `x-should-retry: false` or upstream’s Retry-After. ' +
              'A streamed request that fails before its first token is answered with that status and a JSON body; later, with an in-band `error` event. A client that disconnects cancels the reply.',
            ...mayFail('upstream_error', 'not_found'),
            ...anthropicErrors,
            responses: {
              200: {
                description: 'A Message, or a text/event-stream of Anthropic’s stream events',
                content: { 'application/json': { schema: AnthropicMessage }, 'text/event-stream': { schema: { type: 'string' } } },
              },
              529: {
                description: 'overloaded_error: the upstream said it was overloaded (its 529), after Parley’s own retries',
                content: { 'application/json': { schema: { $ref: '#/components/schemas/AnthropicError' } } },
              },
            } as never,
          },
        },
      )
      .post(
        '/count_tokens',
        async ({ caller, body }) => {
          // The model must be one the caller could send the request to, as Anthropic checks it.
          let model: { provider: string; model: string };
          try {
            model = await replies.resolveModel(modelOf(body.model));
          } catch (error) {
            if (isUnknownModel(error)) throw modelNotFound(body.model, (error as Error).message);
            throw error;
          }
          if (!replies.modelAllowed(caller, model)) throw forbidden(`This API key may not use ${model.provider}/${model.model}`);
          return { input_tokens: estimateInputTokens(body) };
        },
        {
          auth: true,
          body: CountTokensBody,
          response: { 200: CountTokens },
          detail: {
            tags,
            summary: 'Estimated input tokens of a Messages request, without calling a model',
            description:
              'Parley’s own estimate (about 4 characters a token, 1000 an image, the tools as JSON text), the one it budgets every prompt with: ' +
              'no upstream call, so it costs nothing, counts against no LLM limit and answers the same for every provider. An unknown model is 404 not_found_error.',
            ...mayFail('not_found', 'forbidden'),
            ...anthropicErrors,
          },
        },
      )
  );
}
