// Anthropic Messages API through the official SDK, reading the raw stream events.

import type Anthropic from '@anthropic-ai/sdk';
import type { UpstreamFetch } from './pool.ts';
import { LIST_TIMEOUT_MS, modelInfos, toUpstreamError } from './shared.ts';
import type { GenerationEvent, GenerationRequest, LlmProvider } from './types.ts';
import { UpstreamError } from './types.ts';

export type AnthropicProviderOptions = {
  apiKey: string;
  /** Without `/v1`: the SDK appends it. */
  baseUrl?: string | undefined;
  /** The connection pool to reach upstream through (see pool.ts); global fetch when absent. */
  fetch?: UpstreamFetch;
};

/** Anthropic's stop reasons in the OpenAI vocabulary the rest of the app (and clients) use. */
const FINISH_REASONS: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
};

// In-band `error` events: overloaded/api errors are transient; anything else is a real refusal.
const RETRYABLE_TYPES = new Set(['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error']);

export function createAnthropicProvider(options: AnthropicProviderOptions): LlmProvider {
  // Loaded on first use, not at start-up.
  let loaded: Promise<{ Sdk: typeof Anthropic; client: Anthropic }> | undefined;
  const load = () =>
    (loaded ??= import('@anthropic-ai/sdk').then(({ default: Sdk }) => ({
      Sdk,
      client: new Sdk({
        apiKey: options.apiKey,
        baseURL: options.baseUrl ?? 'https://api.anthropic.com',
        maxRetries: 0, // retries are streamWithResilience's job
        ...(options.fetch ? { fetch: options.fetch } : {}),
      }),
    })));
  const toError = (Sdk: typeof Anthropic, e: unknown) =>
    toUpstreamError('anthropic', e, Sdk, (err) => {
      const type = (err as { type?: unknown }).type;
      return typeof type === 'string' && RETRYABLE_TYPES.has(type);
    });

  async function* stream(request: GenerationRequest): AsyncGenerator<GenerationEvent> {
    const { signal } = request;
    if (signal.aborted) return;
    const { Sdk, client } = await load();
    // biome-ignore lint/suspicious/noImplicitAnyLet: the SDK's stream type, inferred from the assignment below
    let events;
    try {
      events = await client.messages.create(
        {
          model: request.model,
          max_tokens: request.maxTokens,
          // No temperature: SDK 1.x speaks API version 2026-10-21, which rejects sampling
          // parameters (temperature, top_p, top_k) with a 400 on every model.
          ...(request.system ? { system: request.system } : {}),
          messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
          stream: true,
        },
        { signal },
      );
    } catch (e) {
      if (signal.aborted) return;
      throw toError(Sdk, e);
    }

    let inputTokens = 0;
    let outputTokens = 0;
    let stopReason: string | undefined;
    let stopped = false;
    try {
      for await (const event of events) {
        if (signal.aborted) return;
        switch (event.type) {
          case 'message_start':
            inputTokens = event.message.usage.input_tokens;
            outputTokens = event.message.usage.output_tokens;
            break;
          case 'content_block_delta':
            if (event.delta.type === 'text_delta' && event.delta.text) yield { type: 'delta', text: event.delta.text };
            break;
          case 'message_delta':
            if (event.delta.stop_reason) stopReason = event.delta.stop_reason;
            // output_tokens here is cumulative; input_tokens may be restated (or null).
            outputTokens = event.usage.output_tokens;
            if (typeof event.usage.input_tokens === 'number') inputTokens = event.usage.input_tokens;
            break;
          case 'message_stop':
            stopped = true;
            break;
          default:
            break;
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      throw toError(Sdk, e);
    }
    if (signal.aborted) return; // the SDK just ends its loop after an abort
    if (!stopped) throw new UpstreamError('upstream stream ended before it finished', { retryable: true });
    const finishReason = stopReason ? (FINISH_REASONS[stopReason] ?? stopReason) : 'stop';
    yield { type: 'done', finishReason, usage: { inputTokens, outputTokens } };
  }

  async function listModels() {
    const { client } = await load();
    const ids: string[] = [];
    for await (const model of client.models.list({ limit: 100 }, { timeout: LIST_TIMEOUT_MS })) ids.push(model.id);
    return modelInfos('anthropic', ids);
  }

  return { name: 'anthropic', listModels, stream };
}
