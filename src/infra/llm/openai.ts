// OpenAI (and any OpenAI-compatible server, Ollama included) through the official SDK.

import type OpenAI from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { UpstreamFetch } from './pool.ts';
import { estimateUsage, LIST_TIMEOUT_MS, modelInfos, toUpstreamError } from './shared.ts';
import type { GenerationEvent, GenerationRequest, LlmProvider, ProviderName, Usage } from './types.ts';
import { UpstreamError } from './types.ts';

export type OpenAiProviderOptions = {
  apiKey?: string | undefined;
  /** Includes `/v1`, e.g. `https://api.openai.com/v1`. */
  baseUrl?: string | undefined;
  name?: ProviderName;
  /** The connection pool to reach upstream through (see pool.ts); global fetch when absent. */
  fetch?: UpstreamFetch;
};

export function createOpenAiProvider(options: OpenAiProviderOptions): LlmProvider {
  const name = options.name ?? 'openai';
  // The SDK is loaded on first use, not at start-up: an instance that never calls it starts faster.
  let loaded: Promise<{ Sdk: typeof OpenAI; client: OpenAI }> | undefined;
  const load = () =>
    (loaded ??= import('openai').then(({ default: Sdk }) => ({
      Sdk,
      client: new Sdk({
        // OpenAI-compatible servers reached through OPENAI_BASE_URL alone need no key, but the SDK wants one.
        apiKey: options.apiKey || 'unused',
        baseURL: options.baseUrl ?? 'https://api.openai.com/v1',
        // Retries, fallbacks and timeouts belong to streamWithResilience, not to the SDK.
        maxRetries: 0,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      }),
    })));
  const toError = (Sdk: typeof OpenAI, e: unknown) =>
    toUpstreamError(name, e, Sdk, (err) => !/invalid_request|authentication|permission/.test(String((err as { type?: unknown }).type)));

  async function* stream(request: GenerationRequest): AsyncGenerator<GenerationEvent> {
    const { signal } = request;
    if (signal.aborted) return;
    const messages: ChatCompletionMessageParam[] = [
      ...(request.system ? [{ role: 'system' as const, content: request.system }] : []),
      ...request.messages.map((m) => ({ role: m.role, content: m.content })),
    ];
    const { Sdk, client } = await load();
    // biome-ignore lint/suspicious/noImplicitAnyLet: the SDK's stream type, inferred from the assignment below
    let chunks;
    try {
      chunks = await client.chat.completions.create(
        {
          model: request.model,
          messages,
          max_tokens: request.maxTokens,
          temperature: request.temperature,
          stream: true,
          stream_options: { include_usage: true },
        },
        { signal },
      );
    } catch (e) {
      if (signal.aborted) return; // the caller aborted: it knows, nothing to report
      throw toError(Sdk, e);
    }

    let finishReason: string | undefined;
    let usage: Usage | undefined;
    let text = '';
    try {
      for await (const chunk of chunks) {
        if (signal.aborted) return;
        if (chunk.usage) usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
        const choice = chunk.choices[0];
        const content = choice?.delta?.content;
        if (content) {
          text += content;
          yield { type: 'delta', text: content };
        }
        if (choice?.finish_reason) finishReason = choice.finish_reason;
      }
    } catch (e) {
      if (signal.aborted) return;
      throw toError(Sdk, e);
    }
    // The SDK ends its loop quietly after an abort; only our own check tells the cases apart.
    if (signal.aborted) return;
    if (!finishReason) throw new UpstreamError('upstream stream ended before it finished', { retryable: true });
    yield { type: 'done', finishReason, usage: usage ?? estimateUsage(request, text) };
  }

  async function listModels() {
    const { client } = await load();
    const ids: string[] = [];
    for await (const model of client.models.list({ timeout: LIST_TIMEOUT_MS })) ids.push(model.id);
    return modelInfos(name, ids);
  }

  return { name, listModels, stream };
}
