import { Elysia } from 'elysia';
import type { UserCaller } from '../../http/auth.ts';
import { mayFail } from '../../http/docs.ts';
import { AppError } from '../../http/errors.ts';
import type { ReplayStream } from '../../http/idempotency.ts';
import type { RouteBundle } from '../../http/routes.ts';
import { ModelCannotTakeImagesError } from '../../infra/llm/index.ts';
import type { ModelsService } from '../models/service.ts';
import type { RepliesService, StartedGeneration } from '../replies/service.ts';
import { badParam, modelNotFound, openAiErrors, openAiFailure } from './errors.ts';
import { Completion, type CompletionBody, CompletionBody as CompletionSchema } from './model.ts';
import { openAiModelRoutes } from './models.ts';
import { given, toStateless } from './request.ts';
import { completionChunks, completionOf } from './stream.ts';

const tags = ['OpenAI-compatible'];

export type OpenAiCompatOptions = {
  models: ModelsService;
  replies: RepliesService;
  routes: RouteBundle;
  /**
   * Longest a streamed completion holds its response for the reply's first token, in ms: a failure
   * before it is answered with its HTTP status and a JSON body; past it the stream starts (200)
   * and a later failure is an in-band error chunk. Below the server's idle timeout.
   */
  firstTokenHoldMs: number;
};

/**
 * /v1/models and /v1/chat/completions in OpenAI's wire format, so the official `openai` SDK (and
 * the Vercel AI SDK, LangChain…) work with `baseURL: <server>/v1` and a Parley API key. Replies
 * run like any other stateless reply, with tools, images and OpenAI's request fields; every error
 * is written in OpenAI's shape (openAiErrorDialect, given to the error handler in app.ts). These
 * callers cannot resume a reply: leaving cancels it.
 */
export { openAiErrorDialect } from './errors.ts';

export function openAiCompatModule({ models, replies, routes, firstTokenHoldMs }: OpenAiCompatOptions) {
  const formatOf = (body: CompletionBody, streamId: string) =>
    completionChunks(streamId, { model: body.model, includeUsage: given(body.stream_options)?.include_usage === true });
  const replayCompletion: ReplayStream = (request, streamId) =>
    replies.sse(streamId, { format: formatOf(request.body as CompletionBody, streamId) });

  /** A reply with no chat, started like any stateless one (model, then LLM limits, then the detached generation). */
  const startCompletion = async (caller: UserCaller, ip: string, body: CompletionBody): Promise<StartedGeneration> => {
    const { conversation, from } = toStateless(body);
    if (conversation.sampling?.logprobs) {
      const { provider } = await replies.resolveModel(conversation).catch(() => ({ provider: undefined }));
      if (provider && !replies.takesLogprobs(provider)) {
        throw badParam('logprobs', `The ${provider} provider returns no log probabilities: logprobs must be false for this model`);
      }
    }
    try {
      return await models.startStateless(caller, ip, conversation);
    } catch (error) {
      if (error instanceof ModelCannotTakeImagesError) {
        const { messageIndex, partIndex } = error.details;
        throw badParam(`messages[${from[messageIndex] ?? messageIndex}].content[${partIndex}]`, error.message);
      }
      // The model resolved to nothing offered (`echo/other`, an unconfigured provider).
      const field = error instanceof AppError ? (error.options.details as { field?: string }[] | undefined)?.[0]?.field : undefined;
      if (error instanceof AppError && error.code === 'validation_error' && (field === 'body.model' || field === 'body.provider')) {
        throw modelNotFound(body.model, error.message);
      }
      throw error;
    }
  };

  /** The failed reply's error as /v1 answers it (see openAiFailure); a failure that is not the provider's as the replies service maps it. */
  const failureOf = async (started: StartedGeneration, model: string): Promise<AppError> => {
    const result = await started.done;
    const upstream = openAiFailure(result.error, model);
    if (upstream) return upstream;
    try {
      await replies.result(started);
    } catch (error) {
      if (error instanceof AppError) return error;
    }
    return new AppError('upstream_error', result.error?.message ?? 'The model provider failed');
  };

  /** Cancels the reply if the request is abandoned before it ended (an OpenAI caller cannot come back to it). */
  const cancelOnAbort = (request: Request, started: StartedGeneration) => {
    const cancel = () => void replies.cancel(started.messageId).catch(() => undefined);
    // The caller may have left while the reply was being started.
    if (request.signal.aborted) return cancel();
    request.signal.addEventListener('abort', cancel, { once: true });
    void started.done.finally(() => request.signal.removeEventListener('abort', cancel));
  };

  return new Elysia({ name: 'openai-compat', prefix: '/v1' })
    .use(routes.api())
    .use(openAiModelRoutes({ models, replies, routes }))
    .post(
      '/chat/completions',
      async ({ caller, ip, body, request }) => {
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
              content: { 'application/json': { schema: Completion } },
            },
          } as never,
        },
      },
    );
}
