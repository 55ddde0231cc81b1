import type { Infra } from '../../infra/index.ts';
import type { StreamBuffers } from '../../infra/kv/stream-buffers.ts';
import { estimateTokens } from '../../infra/llm/shared.ts';
import type { ChatMessage, GenerationRequest, ProviderName, ResilientEvent, Sampling, Usage } from '../../infra/llm/types.ts';
import type { MessageRow, RepliesRepository } from './repository.ts';

/** Runs one model call with retries, timeouts and fallbacks (bound in app.ts to the providers). */
export type ModelRunner = (
  request: Omit<GenerationRequest, 'signal'> & { provider: ProviderName },
  signal: AbortSignal,
) => AsyncIterable<ResilientEvent>;

export type GenerationInput = {
  userId: string;
  /** With a chat, the reply is stored there as an assistant message; without, only its usage is. */
  chatId: string | null;
  userMessageId: string | null;
  provider: ProviderName;
  model: string;
  system?: string;
  history: ChatMessage[];
  /** MAX_TOKENS when absent. */
  maxTokens?: number;
  /** TEMPERATURE when absent. */
  temperature?: number;
  /** Further sampling options (the OpenAI-compatible API's top_p, stop, seed…); each provider sends what it understands. */
  sampling?: Sampling;
  /** Runs once the assistant message is stored as `streaming`, before the reply starts (a stored reply only). */
  onCreated?: (message: MessageRow) => void;
  /** Runs once the finished reply is stored, before `done` is sent (a stored reply only). */
  onStored?: (message: MessageRow) => void;
};

type RunInput = GenerationInput & { messageId: string };

/** What the engine tells metrics: seconds to the first token and for the whole upstream call. */
export type EngineObserver = {
  firstToken(provider: ProviderName, seconds: number): void;
  upstream(provider: ProviderName, seconds: number): void;
};

export type StartedGeneration = { streamId: string; messageId: string; message: MessageRow | null; done: Promise<GenerationResult> };

export type GenerationResult = {
  status: 'complete' | 'cancelled' | 'error' | 'interrupted';
  text: string;
  /** The model's thinking, where the provider streamed it ('' when none): never part of `text`. */
  reasoning: string;
  provider: ProviderName;
  model: string;
  finishReason: string;
  usage: Usage;
  error?: { code: string; message: string };
  message?: MessageRow;
};

const aliveKey = (messageId: string) => `generation:alive:${messageId}`;
const streamOfKey = (messageId: string) => `generation:stream:${messageId}`;
const cancelChannel = 'generation:cancel';

/**
 * A generation runs detached from any HTTP request: it appends start/delta/reasoning/done/error
 * to a stream buffer that every reader follows, flushes text (and reasoning, in its own column)
 * to the database in batches, and only `cancel` (on any instance, through KV pub/sub) stops it.
 * A client leaving changes nothing.
 */
export type EngineDeps = {
  buffers: StreamBuffers;
  repo: RepliesRepository;
  runModel: ModelRunner;
  recordUsage: (userId: string, call: { provider: string; model: string } & Usage) => Promise<void>;
  observe: EngineObserver;
};

export function createGenerations(infra: Infra, deps: EngineDeps) {
  const { kv, log, config } = infra;
  const { buffers, repo, runModel } = deps;
  const ttl = config.streamTtlSeconds;
  const heartbeatMs = config.replyHeartbeatMs;
  const flushEveryMs = config.replyFlushMs;
  const active = new Map<string, { userId: string; controller: AbortController; done: Promise<GenerationResult> }>();
  /** Stops what this instance runs for `target`: a message id, or `user:<id>` for all of a user's replies. */
  const stopLocal = (target: string) => {
    if (!target.startsWith('user:')) return active.get(target)?.controller.abort();
    const userId = target.slice('user:'.length);
    for (const entry of active.values()) if (entry.userId === userId) entry.controller.abort();
  };
  let cancelListener: Promise<unknown> | undefined;

  // One subscription per instance: whoever runs the generation obeys a cancel sent anywhere.
  const listenForCancels = () =>
    (cancelListener ??= kv.subscribe(cancelChannel, stopLocal).catch((error) => {
      cancelListener = undefined;
      log.warn('cannot listen for cancels', { error: (error as Error).message });
    }));

  const emit = (streamId: string, event: string, payload: unknown) => buffers.append(streamId, event, JSON.stringify(payload), ttl);

  async function run(input: RunInput, streamId: string, controller: AbortController): Promise<GenerationResult> {
    let text = '';
    let flushed = 0;
    // The model's thinking: relayed as `reasoning` events and stored apart, never mixed into `text`.
    let reasoning = '';
    let flushedReasoning = 0;
    let provider = input.provider;
    let model = input.model;
    let finish: { reason: string; usage: Usage } | undefined;
    let failure: { code: string; message: string } | undefined;
    // Flushes run one after another, and the final write waits for the last of them: on a
    // connection pool, a slower partial write could otherwise land after the final one.
    let flushing: Promise<void> = Promise.resolve();
    const flush = () =>
      (flushing = flushing
        .catch(() => undefined)
        .then(async () => {
          if (input.chatId === null || (flushed === text.length && flushedReasoning === reasoning.length)) return;
          flushed = text.length;
          flushedReasoning = reasoning.length;
          await repo.flush(input.messageId, text, reasoning || null);
        }));
    // Deltas (and reasoning) are appended one at a time; text that arrives while an append is in
    // flight is coalesced into the next event of its kind, in arrival order. Under a burst this
    // sends fewer, larger events (the same concatenated text) instead of queueing one KV round
    // trip per token, and yielding to the event loop between appends lets readers write what
    // they have as it comes.
    const pending: { event: 'delta' | 'reasoning'; text: string }[] = [];
    let appending: Promise<void> | undefined;
    let appendFailure: unknown;
    const drainDeltas = async () => {
      try {
        for (let next = pending.shift(); next; next = pending.shift()) {
          await emit(streamId, next.event, { text: next.text });
          await new Promise((resolve) => setImmediate(resolve));
        }
      } catch (error) {
        appendFailure = error;
        controller.abort();
      } finally {
        appending = undefined;
      }
    };
    const pushDelta = (event: 'delta' | 'reasoning', chunk: string) => {
      const last = pending.at(-1);
      if (last?.event === event) last.text += chunk;
      else pending.push({ event, text: chunk });
      appending ??= drainDeltas();
    };
    const flushTimer = setInterval(
      () => void flush().catch((error) => log.warn('flush failed', { error: (error as Error).message })),
      flushEveryMs,
    );
    const heartbeat = setInterval(
      () => void kv.set(aliveKey(input.messageId), streamId, { ttlMs: heartbeatMs * 3 }).catch(() => undefined),
      heartbeatMs,
    );
    try {
      const events = runModel(
        {
          provider,
          model,
          messages: input.history,
          system: input.system,
          maxTokens: input.maxTokens ?? config.maxTokens,
          temperature: input.temperature ?? config.temperature,
          ...(input.sampling ? { sampling: input.sampling } : {}),
        },
        controller.signal,
      )[Symbol.asyncIterator]();
      const askedAt = performance.now();
      let firstTokenAt: number | undefined;
      const handle = (event: ResilientEvent) => {
        if (event.type === 'attempt') [provider, model] = [event.provider, event.model];
        else if (event.type === 'delta' || event.type === 'reasoning') {
          if (firstTokenAt === undefined) deps.observe.firstToken(provider, ((firstTokenAt = performance.now()) - askedAt) / 1000);
          if (event.type === 'delta') text += event.text;
          else reasoning += event.text;
          pushDelta(event.type, event.text);
        } else finish = { reason: event.finishReason, usage: event.usage };
      };
      // The first step only names the attempt; the second sends the upstream request. Send it
      // before storing the start event, so the two round trips overlap instead of adding up.
      let step = await events.next();
      let upcoming: Promise<IteratorResult<ResilientEvent>> | undefined;
      if (!step.done) {
        handle(step.value);
        upcoming = events.next();
        upcoming.catch(() => undefined);
      }
      try {
        await emit(streamId, 'start', {
          ...(input.chatId ? { chatId: input.chatId } : {}),
          ...(input.userMessageId ? { userMessageId: input.userMessageId } : {}),
          messageId: input.messageId,
          streamId,
          provider: input.provider,
          model: input.model,
        });
      } catch (error) {
        // Reported below as the buffer being unavailable; the upstream call is stopped.
        appendFailure = error;
        controller.abort();
        throw error;
      }
      if (upcoming) for (step = await upcoming; !step.done; step = await events.next()) handle(step.value);
      deps.observe.upstream(provider, (performance.now() - askedAt) / 1000);
    } catch (error) {
      if (!controller.signal.aborted) {
        failure = { code: 'upstream_error', message: (error as Error).message || 'The model provider failed' };
        log.warn('generation failed', { messageId: input.messageId, provider, model, error: failure.message });
      }
    } finally {
      clearInterval(flushTimer);
      clearInterval(heartbeat);
      while (appending) await appending;
      await flushing.catch(() => undefined);
    }
    if (appendFailure && !failure) {
      failure = { code: 'unavailable', message: 'The stream buffer became unavailable' };
      log.error('stream buffer append failed', { messageId: input.messageId, error: appendFailure });
    }

    const cancelled = !failure && !finish && controller.signal.aborted;
    const usage = finish?.usage ?? {
      inputTokens: input.history.reduce((sum, turn) => sum + estimateTokens(turn.content), 0),
      outputTokens: text || reasoning ? estimateTokens(text + reasoning) : 0,
    };
    const status: GenerationResult['status'] = failure ? 'error' : cancelled ? 'cancelled' : finish ? 'complete' : 'error';
    if (!failure && !finish && !cancelled) failure = { code: 'upstream_error', message: 'The model provider ended without finishing' };
    const finishReason = cancelled ? 'cancelled' : (finish?.reason ?? 'error');
    let message: MessageRow | undefined;
    try {
      if (input.chatId !== null) {
        message = await repo.finish({
          id: input.messageId,
          content: text,
          reasoning: reasoning || null,
          status,
          provider,
          model,
          finishReason,
          inputTokens: usage.inputTokens,
          outputTokens: usage.outputTokens,
        });
      }
      if (status !== 'error') await deps.recordUsage(input.userId, { provider, model, ...usage });
      if (message) input.onStored?.(message);
    } catch (error) {
      log.error('could not store a finished generation', { messageId: input.messageId, error });
    }
    if (failure) await emit(streamId, 'error', failure);
    else await emit(streamId, 'done', { messageId: input.messageId, finishReason, usage });
    await buffers.end(streamId, ttl);
    await kv.del(aliveKey(input.messageId)).catch(() => undefined);
    return { status, text, reasoning, provider, model, finishReason, usage, error: failure, message };
  }

  return {
    /** Creates the assistant message (for a chat), opens the stream buffer and starts the reply detached. */
    async start(generation: GenerationInput): Promise<StartedGeneration> {
      await listenForCancels();
      const messageId = Bun.randomUUIDv7();
      const input: RunInput = { ...generation, messageId };
      const message = generation.chatId
        ? await repo.insertStreaming({
            id: messageId,
            chatId: generation.chatId,
            questionId: generation.userMessageId,
            provider: generation.provider,
            model: generation.model,
          })
        : null;
      if (message) generation.onCreated?.(message);
      const streamId = Bun.randomUUIDv7();
      await Promise.all([
        buffers.create(streamId, { ownerId: input.userId, kind: 'generation', ttlSeconds: ttl, producerAliveKey: aliveKey(messageId) }),
        kv.set(aliveKey(messageId), streamId, { ttlMs: heartbeatMs * 3 }),
        kv.set(streamOfKey(messageId), streamId, { ttlMs: ttl * 1000 }),
      ]);
      const controller = new AbortController();
      const release = buffers.produce(streamId);
      const done = run(input, streamId, controller)
        .catch((error): GenerationResult => {
          log.error('generation crashed', { messageId, error });
          return {
            status: 'error',
            text: '',
            reasoning: '',
            provider: input.provider,
            model: input.model,
            finishReason: 'error',
            usage: { inputTokens: 0, outputTokens: 0 },
          };
        })
        .finally(() => {
          active.delete(messageId);
          release();
        });
      active.set(messageId, { userId: input.userId, controller, done });
      return { streamId, messageId, message, done };
    },

    /** Asks whichever instance runs the generation to stop it; resolves once asked. */
    async cancel(messageId: string): Promise<void> {
      const local = active.get(messageId);
      if (local) local.controller.abort();
      else await kv.publish(cancelChannel, messageId);
    },

    /** Stops every reply of `userId` on every instance (the user was disabled or deleted); resolves once asked. */
    async cancelUser(userId: string): Promise<void> {
      stopLocal(`user:${userId}`);
      await kv.publish(cancelChannel, `user:${userId}`);
    },

    activeCount: () => active.size,

    /** Shutdown: let running generations finish within `graceMs`, then cancel the rest. */
    async drain(graceMs: number): Promise<void> {
      const all = Promise.allSettled([...active.values()].map((entry) => entry.done));
      const timer = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
      await Promise.race([all, timer]);
      for (const entry of active.values()) entry.controller.abort();
      await Promise.allSettled([...active.values()].map((entry) => entry.done));
    },

    /** Start-up: a message left streaming whose producer no longer beats was cut by a crash. */
    async recoverInterrupted(): Promise<number> {
      let recovered = 0;
      for (const message of await repo.streaming()) {
        if (active.has(message.id)) continue;
        if (await kv.exists(aliveKey(message.id)).catch(() => false)) continue;
        await repo.markInterrupted(message.id);
        const streamId = await kv.get(streamOfKey(message.id)).catch(() => null);
        if (streamId && !(await buffers.snapshot(streamId)).ended) {
          await emit(streamId, 'error', {
            code: 'interrupted',
            message: 'The server generating this reply stopped; the text so far is kept',
          });
          await buffers.end(streamId, ttl);
        }
        recovered++;
      }
      if (recovered) log.warn('marked interrupted generations', { count: recovered });
      return recovered;
    },
  };
}

export type Generations = ReturnType<typeof createGenerations>;
