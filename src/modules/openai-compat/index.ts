import { Elysia } from 'elysia';
import type { UserCaller } from '../../http/auth.ts';
import { mayFail } from '../../http/docs.ts';
import type { ReplayStream } from '../../http/idempotency.ts';
import type { RouteBundle } from '../../http/routes.ts';
import type { ModelsService } from '../models/service.ts';
import type { RepliesService, StartedGeneration } from '../replies/service.ts';
import { choiceChunks, completionOfChoices, startChoices } from './choices.ts';
import { badParam, openAiErrors } from './errors.ts';
import { createReplyLifecycle } from './lifecycle.ts';
import { Completion, type CompletionBody, CompletionBody as CompletionSchema } from './model.ts';
import { openAiModelRoutes } from './models.ts';
import { given, toStateless } from './request.ts';
import { openAiResponsesRoutes } from './responses.ts';
import type { ResponsesService } from './responses-service.ts';
import { completionChunks, completionOf } from './stream.ts';

const tags = ['OpenAI-compatible'];

export type OpenAiCompatOptions = {
  models: ModelsService;
  replies: RepliesService;
  /** The Responses API's stored responses and replies (POST/GET/DELETE /v1/responses). */
  responses: ResponsesService;
  routes: RouteBundle;
  /**
   * Longest a streamed completion holds its response for the reply's first token, in ms: a failure
   * before it is answered with its HTTP status and a JSON body; past it the stream starts (200)
   * and a later failure is an in-band error chunk. Below the server's idle timeout.
   */
  firstTokenHoldMs: number;
};

/**
 * /v1/models, /v1/chat/completions and /v1/responses (responses.ts) in OpenAI's wire format, so
 * the official `openai` SDK (and the Vercel AI SDK, LangChain…) work with `baseURL: <server>/v1`
 * and a Parley API key. Replies run like any other stateless reply, with tools, images and
 * OpenAI's request fields; every error is written in OpenAI's shape (openAiErrorDialect, given to
 * the error handler in app.ts). These callers cannot resume a reply: leaving cancels it.
 */
export { openAiErrorDialect } from './errors.ts';

export function openAiCompatModule({ models, replies, responses, routes, firstTokenHoldMs }: OpenAiCompatOptions) {
  const formatOf = (body: CompletionBody, streamId: string) =>
    completionChunks(streamId, { model: body.model, includeUsage: given(body.stream_options)?.include_usage === true });
  const replayCompletion: ReplayStream = (request, streamId) =>
    replies.sse(streamId, { format: formatOf(request.body as CompletionBody, streamId) });

  const lifecycle = createReplyLifecycle({ models, replies });

  /** The completion's reply, once the provider can honour its log probabilities. */
  const startCompletion = async (caller: UserCaller, ip: string, body: CompletionBody): Promise<StartedGeneration> => {
    const { conversation, from } = toStateless(body);
    if (conversation.sampling?.logprobs) {
      const { provider } = await replies.resolveModel(conversation).catch(() => ({ provider: undefined }));
      if (provider && !replies.takesLogprobs(provider)) {
        throw badParam('logprobs', `The ${provider} provider returns no log probabilities: logprobs must be false for this model`);
      }
    }
    return lifecycle.start(caller, ip, conversation, {
      model: body.model,
      partParam: (messageIndex, partIndex) => `messages[${from[messageIndex] ?? messageIndex}].content[${partIndex}]`,
    });
  };
  const { failureOf, cancelOnAbort } = lifecycle;

  /** `n` > 1: n replies answered as one completion (see choices.ts), with the same holds and cancels as one. */
  const completeChoices = async (caller: UserCaller, ip: string, body: CompletionBody, request: Request, n: number) => {
    // All or none: refused whole, before any choice is charged, when the limits have no room for n.
    await replies.roomFor(caller, ip, n, 'body.n');
    const started = await startChoices(n, () => startCompletion(caller, ip, body), replies.cancel);
    for (const reply of started) cancelOnAbort(request, reply);
    const failed = async (index: number) => {
      await Promise.allSettled(started.map((reply) => replies.cancel(reply.messageId)));
      return failureOf(started[index]!, body.model);
    };
    if (!body.stream) {
      const results = await Promise.all(started.map((reply) => reply.done));
      const index = results.findIndex((result) => result.status === 'error');
      if (index >= 0) throw await failed(index);
      return completionOfChoices(started, results);
    }
    const firsts = await Promise.all(
      started.map((reply) => replies.firstEvent(reply.streamId, { signal: request.signal, timeoutMs: firstTokenHoldMs })),
    );
    const index = firsts.findIndex((first) => first?.event === 'error');
    if (index >= 0) throw await failed(index);
    const chunks = choiceChunks(started, { model: body.model, includeUsage: given(body.stream_options)?.include_usage === true });
    return replies.sseOfMany(
      started.map((reply) => reply.streamId),
      { ...chunks, cancelOnLeave: started.map((reply) => reply.messageId) },
    );
  };

  return new Elysia({ name: 'openai-compat', prefix: '/v1' })
    .use(routes.api())
    .use(openAiModelRoutes({ models, replies, routes }))
    .use(openAiResponsesRoutes({ responses, replies, routes, firstTokenHoldMs }))
    .post(
      '/chat/completions',
      async ({ caller, ip, body, request }) => {
        const n = given(body.n) ?? 1;
        if (n > 1) return completeChoices(caller, ip, body, request, n);
        const started = await startCompletion(caller, ip, body);
        cancelOnAbort(request, started);
        if (!body.stream) {
          const result = await started.done;
          if (result.status === 'error') throw await failureOf(started, body.model);
          return completionOf(started.streamId, result);
        }
        // Held until the first token: a failure before it is an HTTP error, not a 200 stream.
        const first = await replies.firstEvent(started.streamId, { signal: request.signal, timeoutMs: firstTokenHoldMs });
        if (first?.event === 'error') throw await failureOf(started, body.model);
        return replies.sse(started.streamId, { format: formatOf(body, started.streamId), cancelOnLeave: started.messageId });
      },
      {
        auth: true,
        // A repeat with the same Idempotency-Key replays the completion (its chunks, or its JSON).
        idempotent: { replay: replayCompletion },
        body: CompletionSchema,
        detail: {
          tags,
          summary: 'Chat completion in OpenAI’s format, streamed (SSE chunks, then [DONE]) or not',
          description:
            'Errors are in OpenAI’s shape ({error: {message, type, param, code}}), schema violations included (400, naming the field in `param`). ' +
            'An upstream refusal stays the client’s (400; an unknown model is 404 model_not_found); an upstream fault after Parley’s own retries is 502 or 503 with `x-should-retry: false` (or upstream’s Retry-After). ' +
            'A streamed request that fails before its first token is answered with that status and a JSON body. A client that disconnects cancels the reply.',
          ...mayFail('upstream_error', 'not_found'),
          ...openAiErrors,
          responses: {
            200: {
              description: 'chat.completion, or a text/event-stream of chat.completion.chunk',
              content: { 'application/json': { schema: Completion }, 'text/event-stream': { schema: { type: 'string' } } },
            },
          } as never,
        },
      },
    );
}
