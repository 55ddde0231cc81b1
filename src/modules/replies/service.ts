import type { UserCaller } from '../../http/auth.ts';
import { AppError, type ErrorCode, errorStatus, invalid } from '../../http/errors.ts';
import type { Metrics } from '../../http/metrics.ts';
import { type SseItem, sseResponse, streamAsSse } from '../../http/sse.ts';
import type { Infra } from '../../infra/index.ts';
import type { StreamBuffers } from '../../infra/kv/stream-buffers.ts';
import { readStream } from '../../infra/kv/stream-reader.ts';
import { ECHO_MODELS, type Providers, streamWithResilience, UnknownModelError } from '../../infra/llm/index.ts';
import type { ChatMessage, ProviderName } from '../../infra/llm/types.ts';
import type { UsersService } from '../users/service.ts';
import { createGenerations, type GenerationInput, type GenerationResult, type ModelRunner, type StartedGeneration } from './engine.ts';
import { createKeyLimits, keyAllowsModel } from './key-limits.ts';
import { createLlmLimits, type ReplySlot } from './limits.ts';
import { aliveKey } from './orphans.ts';
import { createRepliesRepository } from './repository.ts';

const encoder = new TextEncoder();

export type { GenerationFailure, GenerationInput, GenerationResult, StartedGeneration } from './engine.ts';
export type { LlmLimitStatus, ReplySlot } from './limits.ts';
export type { MessageRow } from './repository.ts';

/** What a reply may ask for; anything not given comes from the chat, then the defaults. */
export type ModelRequest = { provider?: string | null; model?: string | null };
export type ResolvedModel = { provider: ProviderName; model: string };

/** One event of a reply as a websocket or a format other than SSE wants it: the name and the parsed payload. */
export type ReplyEvent = { id: string; event: string; data: Record<string, unknown> };

/**
 * The reply engine's one door. Chats, stateless chat, the OpenAI-compatible API and websockets
 * (and, later, voice, file analysis and pipelines) start, follow, await and cancel replies here
 * and nowhere else: model resolution, LLM call limits, the detached generation, the stream
 * reader and the mapping of an upstream failure to a 502 each live in this room once.
 */
export function createRepliesService(
  infra: Infra,
  deps: { providers: Providers; buffers: StreamBuffers; users: UsersService; metrics: Metrics },
) {
  const { config, log } = infra;
  const { providers, buffers } = deps;
  const keyLimits = createKeyLimits(infra, (apiKeyId) => deps.users.keyMonthTokens(apiKeyId));
  const limits = createLlmLimits(infra, (userId) => deps.users.monthTokens(userId), keyLimits);
  const limitCaller = (caller: UserCaller, ip: string) => ({ user: caller.user, ip, apiKey: caller.apiKeyGrant ?? null });
  const firstToken = deps.metrics.histogram('parley_llm_time_to_first_token_seconds', 'Time from asking the provider to its first token', [
    'provider',
  ]);
  const upstream = deps.metrics.histogram('parley_llm_upstream_duration_seconds', 'Time from asking the provider to the end of its reply', [
    'provider',
  ]);
  const runModel: ModelRunner = (request, signal) =>
    streamWithResilience({
      providers: providers.providers,
      attempts: [{ provider: request.provider, model: request.model }, ...config.llm.fallbacks],
      request,
      signal,
      firstTokenTimeoutMs: config.llm.firstTokenTimeoutMs,
      idleTimeoutMs: config.llm.idleTimeoutMs,
      totalTimeoutMs: config.llm.totalTimeoutMs,
      maxRetries: config.llm.maxRetries,
      retryBaseMs: config.llm.retryBaseMs,
      // A fallback that cannot take the request's images is passed over, never sent them.
      imageRefusal: providers.imageRefusal,
      log,
    });
  const generations = createGenerations(infra, {
    buffers,
    repo: createRepliesRepository(infra.db),
    runModel,
    // The one place every LLM call's usage is recorded: the user's, and the key's it was made with.
    recordUsage: async (userId, call) => {
      const charged = call.apiKeyId
        ? keyLimits.chargeTokens(call.apiKeyId, call.inputTokens + call.outputTokens).catch((error) => {
            log.warn('could not charge an API key’s tokens per minute', { apiKeyId: call.apiKeyId, error: (error as Error).message });
          })
        : undefined;
      await deps.users.recordUsage(userId, call);
      await charged;
    },
    observe: {
      firstToken: (provider, seconds) => firstToken.observe([provider], seconds),
      upstream: (provider, seconds) => upstream.observe([provider], seconds),
    },
  });

  /** The events of a stream as parsed objects, for readers that are not SSE. */
  async function* events(streamId: string, signal: AbortSignal): AsyncGenerator<ReplyEvent> {
    for await (const item of readStream(buffers, streamId, { signal })) {
      if ('ping' in item) continue;
      yield { id: item.id, event: item.event, data: JSON.parse(item.data) as Record<string, unknown> };
    }
  }

  return {
    /**
     * The provider and model a call uses: the request's, else the chat's, else the defaults.
     * Throws 422 `validation_error` (on `body.provider` or `body.model`) for one that is not offered.
     */
    async resolveModel(requested: ModelRequest, chat?: { provider: string | null; model: string | null }): Promise<ResolvedModel> {
      try {
        const resolved = await providers.resolve(requested.provider, requested.model, chat);
        if (resolved.provider === 'echo' && !(ECHO_MODELS as readonly string[]).includes(resolved.model)) {
          throw new UnknownModelError(`The echo provider offers ${ECHO_MODELS.join(', ')}, not "${resolved.model}"`);
        }
        return resolved;
      } catch (error) {
        if (!(error instanceof UnknownModelError)) throw error;
        const field = requested.model && !requested.provider ? 'body.model' : 'body.provider';
        throw invalid(field, error.message, error.message);
      }
    },

    /**
     * Counts one LLM call that is not a reply (a transcription, say) against the limits of the
     * caller's tier and API key; 429 `rate_limited` when a window is spent, `quota_exceeded` when
     * the month's tokens are. (No model is named: a key's allowed models govern replies only.)
     */
    admit: async (caller: UserCaller, ip: string): Promise<void> => {
      await limits.consume(limitCaller(caller, ip));
    },
    /**
     * Admits a reply with `model`: 403 `forbidden` when the caller's API key may not use it;
     * counts the call as `admit` does and takes a place among the caller's concurrent replies
     * (429 `rate_limited` when their tier's are all generating), then runs `work`, which passes
     * the slot to `start` as `slot` (and the caller's `apiKeyId`, so the reply's usage is the
     * key's too). Should `work` fail before a reply claimed the slot, the place is freed.
     */
    async admitReply<T>(caller: UserCaller, ip: string, model: ResolvedModel, work: (slot: ReplySlot | null) => Promise<T>): Promise<T> {
      const slot = await limits.consume(limitCaller(caller, ip), { reply: true, model });
      try {
        return await work(slot);
      } catch (error) {
        if (slot && !slot.claimed) await slot.release();
        throw error;
      }
    },
    /**
     * Refuses, counting nothing, a request that would start `replies` replies at once when they
     * could not all be admitted now (see LlmLimits.roomFor; `field` names the request's count).
     */
    roomFor: (caller: UserCaller, ip: string, replies: number, field: string): Promise<void> =>
      limits.roomFor(limitCaller(caller, ip), replies, field),
    /** The caller's LLM limits and what is left of them, without counting a call. */
    limits: (caller: UserCaller, ip: string) => limits.peek({ user: caller.user, ip }),

    /** Whether the caller may call `model` (of `provider`): false only when their API key does not allow it. */
    modelAllowed: (caller: Pick<UserCaller, 'apiKeyGrant'>, model: ResolvedModel | { provider: string; model: string }): boolean =>
      keyAllowsModel(caller.apiKeyGrant, model.provider, model.model),
    /** Whether `provider` returns log probabilities when asked (OpenAI's API; not Anthropic, Ollama or echo). */
    takesLogprobs: (provider: ProviderName): boolean => providers.providers.get(provider)?.logprobs === true,

    /** Whether `model` of `provider` takes images (its *_VISION_MODELS patterns; echo always). */
    supportsImages: (provider: ProviderName, model: string): boolean => providers.supportsImages(provider, model),

    /**
     * Throws ModelCannotTakeImagesError (infra/llm) when an image of `messages` cannot go to the
     * resolved model: it takes no images, its provider does not take the image's form or format
     * (Ollama: no URLs, no GIF), the image is malformed or sits in an assistant turn. Callers that
     * store anything before replying call it first, so a refused request leaves nothing behind.
     * Unmapped, the error handler answers it 422 `validation_error`.
     */
    checkImages: (model: ResolvedModel, messages: readonly ChatMessage[]): void =>
      providers.checkImages(model.provider, model.model, messages),

    /**
     * Starts a reply detached from the request (a client that leaves changes nothing); see
     * GenerationInput. `history` may carry images (ContentPart): they are checked first
     * (checkImages), so a refused request throws ModelCannotTakeImagesError before any message is
     * created or anything is sent upstream.
     */
    async start(input: GenerationInput): Promise<StartedGeneration> {
      providers.checkImages(input.provider, input.model, input.history);
      return generations.start(input);
    },

    /**
     * The reply's stream as an SSE response: replay after `afterId`, then live, pings while
     * quiet. `format` turns each item into bytes for another wire format (OpenAI's chunks).
     * `cancelOnLeave` (a message id): a client that leaves before the end cancels that reply.
     */
    sse(streamId: string, options: { afterId?: string; format?: (item: SseItem) => Uint8Array; cancelOnLeave?: string } = {}): Response {
      const { cancelOnLeave, ...rest } = options;
      if (!cancelOnLeave) return streamAsSse(buffers, streamId, rest);
      // For readers that cannot resume (the OpenAI-compatible API): leaving is cancelling.
      const onClientGone = () => void generations.cancel(cancelOnLeave).catch((error) => log.warn('cancel on leave failed', { error }));
      return streamAsSse(buffers, streamId, { ...rest, onClientGone });
    },

    /**
     * Several replies' streams as one SSE response (the choices of one OpenAI completion), their
     * items interleaved as they come: `format(index, item)` writes item of the `index`-th stream,
     * `end()` what follows once every stream has ended. A client that leaves cancels them all
     * (these readers cannot resume). Not replayable by Idempotency-Key: no one buffer holds it.
     */
    sseOfMany(
      streamIds: readonly string[],
      options: { format: (index: number, item: SseItem) => Uint8Array; end: () => Uint8Array; cancelOnLeave: readonly string[] },
    ): Response {
      const ending: SseItem = { id: 'end', event: 'end', data: '' };
      async function* source(signal: AbortSignal): AsyncGenerator<SseItem & { index?: number }> {
        const readers = streamIds.map((streamId) => readStream(buffers, streamId, { signal }));
        const next = (index: number) => readers[index]!.next().then((result) => ({ index, result }));
        const pending = new Map(readers.map((_, index) => [index, next(index)] as const));
        try {
          while (pending.size > 0) {
            const { index, result } = await Promise.race(pending.values());
            if (result.done) {
              pending.delete(index);
              continue;
            }
            pending.set(index, next(index));
            yield 'ping' in result.value ? result.value : { ...result.value, index };
          }
          yield ending;
        } finally {
          await Promise.allSettled(readers.map((reader) => reader.return(undefined)));
        }
      }
      const onClientGone = () => {
        for (const messageId of options.cancelOnLeave)
          void generations.cancel(messageId).catch((error) => log.warn('cancel on leave failed', { error }));
      };
      const format = (item: SseItem & { index?: number }) =>
        item === ending ? options.end() : 'ping' in item ? encoder.encode(': ping\n\n') : options.format(item.index ?? 0, item);
      return sseResponse(source, format as (item: SseItem) => Uint8Array, undefined, { onClientGone });
    },

    /**
     * The first event of a reply after `start` (a `delta`, `reasoning`, `tool_call`, `done` or
     * `error`), for callers that answer a failure before the first token with an HTTP status;
     * undefined when none came within `timeoutMs`, or `signal` aborted first.
     */
    async firstEvent(streamId: string, options: { signal: AbortSignal; timeoutMs: number }): Promise<ReplyEvent | undefined> {
      const stop = new AbortController();
      const timer = setTimeout(() => stop.abort(), options.timeoutMs);
      const signal = AbortSignal.any([stop.signal, options.signal]);
      try {
        for await (const event of events(streamId, signal)) if (event.event !== 'start') return event;
        return undefined;
      } finally {
        clearTimeout(timer);
      }
    },

    events,

    /**
     * The whole reply once it is finished and stored. Throws when it failed: 502 `upstream_error`
     * (the provider), 503 `unavailable` (the stream buffer, or the reply was settled elsewhere),
     * 500 `internal_error` (the database refused the reply), 404 `not_found` (its chat was deleted).
     */
    async result(started: Pick<StartedGeneration, 'done'>): Promise<GenerationResult> {
      const result = await started.done;
      if (result.status === 'error') {
        const code = result.error?.code;
        const status: ErrorCode =
          code === 'interrupted' ? 'unavailable' : code && code in errorStatus ? (code as ErrorCode) : 'upstream_error';
        throw new AppError(status, result.error?.message ?? 'The model provider failed');
      }
      return result;
    },

    /** Stops a reply on whichever instance runs it, resolving once asked; settles it as `interrupted` at once when no producer is alive. */
    cancel: (messageId: string) => generations.cancel(messageId),
    /** Stops every reply of the user, on whichever instance runs it (a disabled or deleted user's work stops). */
    cancelUser: (userId: string) => generations.cancelUser(userId),

    activeCount: generations.activeCount,
    /** Replies generating on every instance: the producers' heartbeats in the KV (one key scan; for the admin overview). */
    clusterActiveCount: () => infra.kv.countMatching(aliveKey('*')),
    activeReaders: buffers.activeFollowers,
    drain: generations.drain,
    recoverInterrupted: generations.recoverInterrupted,
    /** One pass of the sweeper that runs on every instance (REPLY_SWEEP_MS): settles replies whose producer is gone. */
    sweep: generations.sweep,
    /** Settles `messageId` when it is `streaming` with no producer alive anywhere; true when it is no longer streaming. */
    settleIfOrphaned: generations.settleIfOrphaned,
  };
}

export type RepliesService = ReturnType<typeof createRepliesService>;
