import type { Infra } from '../../infra/index.ts';
import type { StreamBuffers } from '../../infra/kv/stream-buffers.ts';
import { estimateContentTokens, estimateTokens } from '../../infra/llm/shared.ts';
import type { ResilientEvent, Usage } from '../../infra/llm/types.ts';
import { UpstreamError } from '../../infra/llm/types.ts';
import { type ActiveGeneration, createCancels } from './cancels.ts';
import type { EngineObserver, GenerationFailure, GenerationInput, GenerationResult, ModelRunner, StartedGeneration } from './generation.ts';
import { aliveKey, createOrphanSettler, streamOfKey } from './orphans.ts';
import type { MessageRow, RepliesRepository } from './repository.ts';
import { createReplyWriter, eventData } from './writer.ts';

export type { EngineObserver, GenerationFailure, GenerationInput, GenerationResult, ModelRunner, StartedGeneration } from './generation.ts';

type RunInput = GenerationInput & { messageId: string };

/** A running generation's KV keys: its heartbeat, and the stream it writes (for tests that stage a dead producer). */
export const generationKeys = { alive: aliveKey, streamOf: streamOfKey } as const;

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
  recordUsage: (userId: string, call: { provider: string; model: string; apiKeyId: string | null } & Usage) => Promise<void>;
  observe: EngineObserver;
};

export function createGenerations(infra: Infra, deps: EngineDeps) {
  const { kv, log, config } = infra;
  const { buffers, repo, runModel } = deps;
  const ttl = config.streamTtlSeconds;
  const heartbeatMs = config.replyHeartbeatMs;
  const flushEveryMs = config.replyFlushMs;
  // How long a cancel waits for a live producer's acknowledgement before settling the reply itself.
  const cancelAckMs = Math.min(Math.max(heartbeatMs, 250), 2000);
  const active = new Map<string, ActiveGeneration>();
  const cancels = createCancels(infra, active, cancelAckMs);

  /** Runs a caller's hook; its failure is logged, never the reply's. */
  const notify = async (hook: ((message: MessageRow) => void | Promise<void>) | undefined, message: MessageRow) => {
    try {
      await hook?.(message);
    } catch (error) {
      log.warn('a reply hook failed', { messageId: message.id, error: (error as Error).message });
    }
  };
  const emit = (streamId: string, event: string, payload: unknown) => buffers.append(streamId, event, JSON.stringify(payload), ttl);

  async function run(input: RunInput, streamId: string, controller: AbortController): Promise<GenerationResult> {
    let provider = input.provider;
    let model = input.model;
    let finish: { reason: string; usage: Usage; stopSequence?: string } | undefined;
    let failure: GenerationFailure | undefined;
    const writer = createReplyWriter({
      append: (item) => emit(streamId, item.event, eventData(item)),
      flushRow: input.chatId === null ? undefined : (text, reasoning) => repo.flush(input.messageId, text, reasoning),
      stop: () => controller.abort(),
      log: log.child({ messageId: input.messageId }),
    });
    const flush = writer.flush;
    const flushTimer = setInterval(
      () => void flush().catch((error) => log.warn('flush failed', { error: (error as Error).message })),
      flushEveryMs,
    );
    const heartbeat = setInterval(() => {
      void kv.set(aliveKey(input.messageId), streamId, { ttlMs: heartbeatMs * 3 }).catch(() => undefined);
      void input.slot?.renew().catch(() => undefined);
    }, heartbeatMs);
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
          ...(input.tools?.length
            ? {
                tools: input.tools,
                ...(input.toolChoice !== undefined ? { toolChoice: input.toolChoice } : {}),
                ...(input.parallelToolCalls !== undefined ? { parallelToolCalls: input.parallelToolCalls } : {}),
              }
            : {}),
        },
        controller.signal,
      )[Symbol.asyncIterator]();
      const askedAt = performance.now();
      let firstTokenAt: number | undefined;
      const handle = (event: ResilientEvent) => {
        if (event.type === 'attempt') [provider, model] = [event.provider, event.model];
        else if (event.type === 'done') finish = { reason: event.finishReason, usage: event.usage, stopSequence: event.stopSequence };
        else {
          if (firstTokenAt === undefined) deps.observe.firstToken(provider, ((firstTokenAt = performance.now()) - askedAt) / 1000);
          if (event.type === 'tool_call') writer.pushToolCall(event.index, event.call);
          else if (event.type === 'logprobs') writer.pushLogprobs(event.content);
          else writer.push(event.type, event.text);
        }
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
          ...(input.notes?.length ? { notes: input.notes } : {}),
        });
      } catch (error) {
        // Reported below as the buffer being unavailable; the upstream call is stopped.
        writer.failed(error);
        throw error;
      }
      if (upcoming) for (step = await upcoming; !step.done; step = await events.next()) handle(step.value);
      deps.observe.upstream(provider, (performance.now() - askedAt) / 1000);
    } catch (error) {
      if (!controller.signal.aborted) {
        failure = { code: 'upstream_error', message: (error as Error).message || 'The model provider failed' };
        if (error instanceof UpstreamError) {
          const { status, clientMessage, retryAfterSeconds } = error.options;
          failure.upstream = { status, clientMessage, retryAfterSeconds };
        }
        log.warn('generation failed', { messageId: input.messageId, provider, model, error: failure.message });
      }
    } finally {
      clearInterval(flushTimer);
      clearInterval(heartbeat);
      await writer.close();
    }
    const { text, reasoning } = writer;
    let superseded = writer.superseded;
    if (writer.appendFailure && !failure) {
      failure = { code: 'unavailable', message: 'The stream buffer became unavailable' };
      log.error('stream buffer append failed', { messageId: input.messageId, error: writer.appendFailure });
    }

    const cancelled = !failure && !finish && controller.signal.aborted;
    const usage = finish?.usage ?? {
      inputTokens: input.history.reduce((sum, turn) => sum + estimateContentTokens(turn.content), 0),
      outputTokens: text || reasoning ? estimateTokens(text + reasoning) : 0,
    };
    let status: GenerationResult['status'] = failure ? 'error' : cancelled ? 'cancelled' : finish ? 'complete' : 'error';
    if (!failure && !finish && !cancelled) failure = { code: 'upstream_error', message: 'The model provider ended without finishing' };
    // What the provider produced is billed whether or not it could be stored.
    const billable = status !== 'error';
    const finishReason = cancelled ? 'cancelled' : (finish?.reason ?? 'error');
    const stopSequence = finish?.stopSequence !== undefined ? { stopSequence: finish.stopSequence } : {};
    let message: MessageRow | undefined;
    if (input.chatId !== null) {
      try {
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
          toolCalls: writer.toolCalls.length ? [...writer.toolCalls] : null,
        });
        if (!message) {
          // Not streaming any more: settled elsewhere (a sweeper or a cancel took this producer
          // for dead and ended the stream), or deleted with its chat. Either way it is not stored.
          superseded = true;
          status = 'error';
          failure =
            (await repo.statusOf(input.messageId).catch(() => 'unknown')) === undefined
              ? { code: 'not_found', message: 'The chat of this reply was deleted; the reply was not stored' }
              : {
                  code: 'interrupted',
                  message: 'This reply was settled elsewhere while it was generated; the text the stream carried is kept',
                };
        }
      } catch (error) {
        log.error('could not store a finished generation', { messageId: input.messageId, error });
        status = 'error';
        failure = { code: 'internal_error', message: 'The reply could not be stored' };
        message = await storeFailed(input.messageId, text, reasoning || null);
      }
    }
    try {
      if (billable) await deps.recordUsage(input.userId, { provider, model, ...usage, apiKeyId: input.apiKeyId });
    } catch (error) {
      log.error('could not record the usage of a generation', { messageId: input.messageId, error });
    }
    const toolCalls = [...writer.toolCalls];
    const logprobs = writer.logprobs && [...writer.logprobs];
    const result: GenerationResult = {
      status,
      text,
      reasoning,
      provider,
      model,
      finishReason,
      ...stopSequence,
      usage,
      toolCalls,
      logprobs,
      error: failure,
    };
    if (message) {
      result.message = message;
      await notify(input.onStored, message);
    }
    try {
      await input.onSettled?.(result, streamId);
    } catch (error) {
      log.warn('a reply hook failed', { messageId: input.messageId, error: (error as Error).message });
    }
    // Freed before the last event: a client that saw `done` may start its next reply at once.
    await input.slot?.release();
    try {
      // Whoever settled a superseded message has ended its stream already: nothing is added after that.
      if (!superseded || !(await buffers.snapshot(streamId)).ended) {
        // `done` only once the reply is stored; anything else ends with `error`.
        if (failure) await emit(streamId, 'error', { code: failure.code, message: failure.message });
        else await emit(streamId, 'done', { messageId: input.messageId, finishReason, usage, ...stopSequence });
        await buffers.end(streamId, ttl);
      }
    } catch (error) {
      log.error('could not end the stream of a generation', { messageId: input.messageId, error });
    }
    await kv.del(aliveKey(input.messageId)).catch(() => undefined);
    return result;
  }

  /**
   * The final write failed (the database refused the row, or is away): the message is stored as
   * `error`, with the text the stream carried if the database takes it, else with the text flushed
   * so far. Undefined when even that fails; the sweeper settles it later.
   */
  async function storeFailed(id: string, content: string, reasoning: string | null): Promise<MessageRow | undefined> {
    try {
      return await repo.settle({ id, status: 'error', finishReason: 'error', content, reasoning });
    } catch (error) {
      log.warn('could not store the text of a failed reply; keeping what was flushed', { messageId: id, error: (error as Error).message });
    }
    try {
      return await repo.settle({ id, status: 'error', finishReason: 'error' });
    } catch (error) {
      log.error('could not mark a failed reply as error', { messageId: id, error });
      return undefined;
    }
  }

  const orphans = createOrphanSettler({ kv, log, buffers, repo, ttl, isLocal: (messageId) => active.has(messageId), emit });
  const { settleOrphan, sweep, isOrphan } = orphans;

  // The sweeper, on every instance: a reply whose instance died is settled within three missed
  // heartbeats plus one REPLY_SWEEP_MS, whether or not any instance restarts.
  let sweeping: Promise<unknown> | undefined;
  const sweeper = setInterval(() => {
    sweeping ??= sweep(heartbeatMs * 3)
      .catch((error) => log.warn('reply sweep failed', { error: (error as Error).message }))
      .finally(() => {
        sweeping = undefined;
      });
  }, config.replySweepMs);
  sweeper.unref();

  return {
    /** Creates the assistant message (for a chat), opens the stream buffer and starts the reply detached. */
    async start(generation: GenerationInput): Promise<StartedGeneration> {
      await cancels.listen();
      const messageId = Bun.randomUUIDv7();
      const input: RunInput = { ...generation, messageId };
      const message = generation.chatId
        ? await repo.insertStreaming({
            id: messageId,
            chatId: generation.chatId,
            questionId: generation.userMessageId,
            turnId: generation.turnId,
            provider: generation.provider,
            model: generation.model,
          })
        : null;
      if (message) await notify(generation.onCreated, message);
      const streamId = Bun.randomUUIDv7();
      try {
        await Promise.all([
          buffers.create(streamId, { ownerId: input.userId, kind: 'generation', ttlSeconds: ttl, producerAliveKey: aliveKey(messageId) }),
          kv.set(aliveKey(messageId), streamId, { ttlMs: heartbeatMs * 3 }),
          kv.set(streamOfKey(messageId), streamId, { ttlMs: ttl * 1000 }),
        ]);
      } catch (error) {
        // The KV failed after the reply was stored (it was up when the call was admitted): no
        // generation will finish the row, so it is stored as failed, never left `streaming`.
        const { provider, model } = input;
        const failure = { content: '', reasoning: null, status: 'error', finishReason: 'error', inputTokens: 0, outputTokens: 0 } as const;
        const stored = message && (await repo.finish({ id: messageId, provider, model, ...failure }).catch(() => undefined));
        if (stored) await notify(generation.onStored, stored);
        throw error;
      }
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
            toolCalls: [],
            logprobs: null,
          };
        })
        .finally(() => {
          active.delete(messageId);
          release();
          void input.slot?.release();
        });
      input.slot?.claim();
      active.set(messageId, { userId: input.userId, controller, done });
      return { streamId, messageId, message, done };
    },

    /**
     * Stops a reply on whichever instance runs it, and resolves once it is asked (or settled).
     * When no producer answers (none beats, or the one that beat does not acknowledge within a
     * moment: its instance died), the reply is settled here and now as `interrupted` with the
     * text its stream holds.
     */
    async cancel(messageId: string): Promise<void> {
      const local = active.get(messageId);
      if (local) return local.controller.abort();
      if ((await kv.exists(aliveKey(messageId))) && (await cancels.ask(messageId))) return;
      if (await settleOrphan(messageId)) return;
      // Another instance (its sweeper) is settling it right now: answer once it has.
      const until = Date.now() + 2000;
      while (Date.now() < until && (await repo.statusOf(messageId)) === 'streaming') await Bun.sleep(25);
    },

    /**
     * Settles `messageId` if it is `streaming` with no producer alive anywhere (see cancel); true
     * when it is no longer `streaming` afterwards. A live reply is left alone (false).
     */
    async settleIfOrphaned(messageId: string): Promise<boolean> {
      if (!(await isOrphan(messageId))) return false;
      await settleOrphan(messageId);
      return (await repo.statusOf(messageId)) !== 'streaming';
    },

    /** Stops every reply of `userId` on every instance (the user was disabled or deleted); resolves once asked. */
    cancelUser: (userId: string): Promise<void> => cancels.stopUser(userId),

    activeCount: () => active.size,

    /** Shutdown: stop sweeping, let running generations finish within `graceMs`, then cancel the rest. */
    async drain(graceMs: number): Promise<void> {
      clearInterval(sweeper);
      await sweeping;
      const all = Promise.allSettled([...active.values()].map((entry) => entry.done));
      const timer = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
      await Promise.race([all, timer]);
      for (const entry of active.values()) entry.controller.abort();
      await Promise.allSettled([...active.values()].map((entry) => entry.done));
    },

    /** Start-up: every message left streaming whose producer no longer beats (the sweeper's work, at once). */
    recoverInterrupted: () => sweep(0),

    /** One pass of the sweeper now (it also runs every REPLY_SWEEP_MS); how many replies it settled. */
    sweep: () => sweep(heartbeatMs * 3),
  };
}

export type Generations = ReturnType<typeof createGenerations>;
