// OpenAI (and any OpenAI-compatible server, Ollama included) through the official SDK.
//
// When is a streamed reply finished? When upstream sent its terminal `data: [DONE]`, or named a
// finish reason (`finish_reason` "stop", "length", …). Some OpenAI-compatible servers and proxies
// (Ollama's /v1 when its done_reason is empty, for one) send `finish_reason` null or "" on every
// chunk and end with `[DONE]`: that reply is whole, and its finish reason is "stop". A stream
// that ends with neither (a connection closed early, a proxy cutting the body) is truncated: an
// error, never a success. The SDK ends its loop the same way on `[DONE]` and on a body that simply
// stops, so the `fetch` it is given watches the bytes for `[DONE]` (see watchForDone below).

import type OpenAI from 'openai';
import type {
  ChatCompletionChunk,
  ChatCompletionContentPart,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageParam,
  ChatCompletionTokenLogprob,
  ChatCompletionTool,
  ChatCompletionToolChoiceOption,
} from 'openai/resources/chat/completions';
import { dataUrlOf, isBase64Image } from './content.ts';
import type { UpstreamFetch } from './pool.ts';
import {
  estimateUsage,
  LIST_TIMEOUT_MS,
  midStreamError,
  modelInfos,
  STREAM_CUT_MESSAGE,
  toUpstreamError,
  type UpstreamErrorContext,
} from './shared.ts';
import type {
  ChatMessage,
  ContentPart,
  GenerationEvent,
  GenerationRequest,
  LlmProvider,
  ProviderName,
  Sampling,
  TokenLogprob,
  ToolCall,
  Usage,
} from './types.ts';
import { UpstreamError } from './types.ts';

export type OpenAiProviderOptions = {
  /** Whether the server returns log probabilities when asked (OpenAI's does; Ollama's /v1 does not say). */
  logprobs?: boolean;
  apiKey?: string | undefined;
  /** Includes `/v1`, e.g. `https://api.openai.com/v1`. */
  baseUrl?: string | undefined;
  name?: ProviderName;
  /** The connection pool to reach upstream through (see pool.ts); global fetch when absent. */
  fetch?: UpstreamFetch;
};

/** What OpenAI-compatible servers stream besides `content`: DeepSeek and vLLM `reasoning_content`, Ollama's /v1 and others `reasoning`. */
type Delta = ChatCompletionChunk.Choice.Delta & { reasoning_content?: unknown; reasoning?: unknown };

/** The thinking a delta carries, if any; one field only, for servers that send the same text under both names. */
function reasoningOf(delta: Delta | undefined): string | undefined {
  if (!delta) return undefined;
  if (typeof delta.reasoning_content === 'string' && delta.reasoning_content) return delta.reasoning_content;
  if (typeof delta.reasoning === 'string' && delta.reasoning) return delta.reasoning;
  return undefined;
}

/** The request's sampling options as Chat Completions fields; what is absent stays out (the upstream's default). */
function samplingParams(sampling: Sampling | undefined): Partial<ChatCompletionCreateParamsStreaming> {
  if (!sampling) return {};
  const { topP, stop, seed, presencePenalty, frequencyPenalty, responseFormat, user, reasoningEffort, logprobs } = sampling;
  return {
    ...(logprobs ? { logprobs: true, top_logprobs: logprobs.top } : {}),
    ...(topP !== undefined ? { top_p: topP } : {}),
    ...(stop?.length ? { stop } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(presencePenalty !== undefined ? { presence_penalty: presencePenalty } : {}),
    ...(frequencyPenalty !== undefined ? { frequency_penalty: frequencyPenalty } : {}),
    ...(responseFormat
      ? {
          response_format:
            responseFormat.type === 'json_schema' ? { type: 'json_schema', json_schema: responseFormat.jsonSchema } : responseFormat,
        }
      : {}),
    ...(user !== undefined ? { user } : {}),
    ...(reasoningEffort !== undefined
      ? { reasoning_effort: reasoningEffort as ChatCompletionCreateParamsStreaming['reasoning_effort'] }
      : {}),
  };
}

/** Chat Completions' token log probabilities in the provider layer's words. */
function logprobsOf(content: ChatCompletionTokenLogprob[] | null | undefined): TokenLogprob[] {
  return (content ?? []).map((entry) => ({
    token: entry.token,
    logprob: entry.logprob,
    bytes: entry.bytes ?? null,
    topLogprobs: (entry.top_logprobs ?? []).map((top) => ({ token: top.token, logprob: top.logprob, bytes: top.bytes ?? null })),
  }));
}

/** A part as a Chat Completions content part: an image as `image_url`, its bytes as a `data:` URL. */
function toOpenAiPart(part: ContentPart): ChatCompletionContentPart {
  if (part.type === 'text') return { type: 'text', text: part.text };
  return { type: 'image_url', image_url: { url: isBase64Image(part) ? dataUrlOf(part) : part.url } };
}

/**
 * A turn as Chat Completions takes it: a string as it is (so a text-only request is what it always
 * was), parts as content parts. An assistant turn keeps its text parts only (the API takes no
 * image there: imageRefusal stops such a request before it gets here) and carries its tool
 * calls, with `content: null` when it said nothing; a tool result is a `tool` message.
 */
function toOpenAiMessage(message: ChatMessage): ChatCompletionMessageParam {
  if (message.role === 'tool') return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
  if (message.role === 'user') {
    const { content } = message;
    return { role: 'user', content: typeof content === 'string' ? content : content.map(toOpenAiPart) };
  }
  const text =
    typeof message.content === 'string'
      ? message.content
      : message.content.flatMap((part) => (part.type === 'text' ? [{ type: 'text' as const, text: part.text }] : []));
  if (!message.toolCalls?.length) return { role: 'assistant', content: text };
  return {
    role: 'assistant',
    content: text.length ? text : null,
    tool_calls: message.toolCalls.map((call) => ({
      id: call.id,
      type: 'function' as const,
      function: { name: call.name, arguments: call.arguments },
    })),
  };
}

/** The request's tools, tool choice and parallelism as Chat Completions fields; nothing when it has no tools. */
function toolParams(request: GenerationRequest): Partial<ChatCompletionCreateParamsStreaming> {
  if (!request.tools?.length) return {};
  const tools: ChatCompletionTool[] = request.tools.map((tool) => ({
    type: 'function',
    function: {
      name: tool.name,
      ...(tool.description !== undefined ? { description: tool.description } : {}),
      ...(tool.parameters !== undefined ? { parameters: tool.parameters } : {}),
      ...(tool.strict !== undefined ? { strict: tool.strict } : {}),
    },
  }));
  const choice = request.toolChoice;
  const toolChoice: ChatCompletionToolChoiceOption | undefined =
    choice === undefined ? undefined : typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
  return {
    tools,
    ...(toolChoice !== undefined ? { tool_choice: toolChoice } : {}),
    ...(request.parallelToolCalls !== undefined ? { parallel_tool_calls: request.parallelToolCalls } : {}),
  };
}

/**
 * Tool calls as they stream in: OpenAI sends each call's id and name in its first fragment (by
 * `index`), then its arguments in pieces. A call is whole once a later call starts or the reply
 * ends; `take` hands over the whole ones, in order, each once.
 */
function toolCallAssembler() {
  const calls: { id: string; name: string; arguments: string }[] = [];
  let handed = 0;
  let emitted = 0;
  return {
    add(fragments: ChatCompletionChunk.Choice.Delta.ToolCall[] | undefined) {
      for (const fragment of fragments ?? []) {
        const index = fragment.index ?? calls.length;
        const call = (calls[index] ??= { id: '', name: '', arguments: '' });
        if (fragment.id) call.id = fragment.id;
        if (fragment.function?.name) call.name += fragment.function.name;
        if (fragment.function?.arguments) call.arguments += fragment.function.arguments;
      }
    },
    /** Whole calls not handed over yet: all but the last one seen, or all of them once `final`. */
    take(final: boolean): { index: number; call: ToolCall }[] {
      const upTo = final ? calls.length : calls.length - 1;
      const whole: { index: number; call: ToolCall }[] = [];
      for (; handed < upTo; handed++) {
        const call = calls[handed];
        // A server that skipped an index leaves a hole; nothing to hand over there.
        if (call) whole.push({ index: emitted++, call: { ...call, id: call.id || `call_${handed}` } });
      }
      return whole;
    },
    get count() {
      return emitted;
    },
  };
}

/** Whether a streamed response's body carried the SSE line `data: [DONE]`, by the Response the SDK was handed. */
const doneMarkers = new WeakMap<Response, { seen: boolean }>();

/** `data: [DONE]` as the SDK reads it (one optional space after the colon, nothing else on the line). */
const isDoneLine = (line: string) => line === 'data: [DONE]' || line === 'data:[DONE]';

/**
 * Passes the body through unchanged and sets `marker.seen` once a `data: [DONE]` line goes by
 * (before the SDK reads the bytes that hold it). Only the current line is kept, capped: a line
 * longer than the marker cannot be it.
 */
function watchForDone(marker: { seen: boolean }): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  let line = '';
  const scan = (text: string) => {
    const parts = text.split(/\r\n|\r|\n/);
    for (let i = 0; i < parts.length; i++) {
      line = `${line}${parts[i]}`.slice(0, 16);
      if (i === parts.length - 1) break; // the line goes on in the next chunk
      if (isDoneLine(line)) marker.seen = true;
      line = '';
    }
  };
  return new TransformStream({
    transform(chunk, controller) {
      if (!marker.seen) scan(decoder.decode(chunk, { stream: true }));
      controller.enqueue(chunk);
    },
    flush() {
      // A body that ends right after the marker, without the final newline, reached it too.
      if (!marker.seen) scan(decoder.decode());
      if (isDoneLine(line)) marker.seen = true;
    },
  });
}

/** `fetch` whose successful responses are watched for `[DONE]` (see doneMarkers). */
function watchingFetch(base: UpstreamFetch): UpstreamFetch {
  return async (input, init) => {
    const response = await base(input, init);
    if (!response.ok || !response.body) return response;
    const marker = { seen: false };
    const watched = new Response(response.body.pipeThrough(watchForDone(marker)), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
    doneMarkers.set(watched, marker);
    return watched;
  };
}

export function createOpenAiProvider(options: OpenAiProviderOptions): LlmProvider {
  const name = options.name ?? 'openai';
  const fetch = watchingFetch(options.fetch ?? ((input, init) => globalThis.fetch(input, init)));
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
        fetch,
      }),
    })));
  const inBandRetryable = (err: Error) => !/invalid_request|authentication|permission/.test(String((err as { type?: unknown }).type));
  const errorContext = (Sdk: typeof OpenAI): UpstreamErrorContext => ({
    provider: name,
    sdk: Sdk,
    inBandRetryable,
    secrets: [options.apiKey],
  });

  async function* stream(request: GenerationRequest): AsyncGenerator<GenerationEvent> {
    const { signal } = request;
    if (signal.aborted) return;
    const messages: ChatCompletionMessageParam[] = [
      ...(request.system ? [{ role: 'system' as const, content: request.system }] : []),
      ...request.messages.map(toOpenAiMessage),
    ];
    const { Sdk, client } = await load();
    // biome-ignore lint/suspicious/noImplicitAnyLet: the SDK's stream type, inferred from the assignment below
    let chunks;
    let marker: { seen: boolean } | undefined;
    try {
      const { data, response } = await client.chat.completions
        .create(
          {
            model: request.model,
            messages,
            ...(request.sampling?.maxCompletionTokens ? { max_completion_tokens: request.maxTokens } : { max_tokens: request.maxTokens }),
            temperature: request.temperature,
            ...samplingParams(request.sampling),
            ...toolParams(request),
            stream: true,
            stream_options: { include_usage: true },
          },
          { signal },
        )
        .withResponse();
      chunks = data;
      marker = doneMarkers.get(response);
    } catch (e) {
      if (signal.aborted) return; // the caller aborted: it knows, nothing to report
      throw toUpstreamError(e, errorContext(Sdk));
    }

    let finishReason: string | undefined;
    let usage: Usage | undefined;
    let text = '';
    let reasoning = '';
    const toolCalls = toolCallAssembler();
    let argumentText = '';
    try {
      for await (const chunk of chunks) {
        if (signal.aborted) return;
        if (chunk.usage) usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
        const choice = chunk.choices?.[0];
        const thought = reasoningOf(choice?.delta as Delta | undefined);
        if (thought) {
          reasoning += thought;
          yield { type: 'reasoning', text: thought };
        }
        const content = choice?.delta?.content;
        if (content) {
          text += content;
          yield { type: 'delta', text: content };
        }
        const logprobs = logprobsOf(choice?.logprobs?.content);
        if (logprobs.length) yield { type: 'logprobs', content: logprobs };
        toolCalls.add(choice?.delta?.tool_calls);
        for (const whole of toolCalls.take(false)) {
          argumentText += whole.call.arguments;
          yield { type: 'tool_call', ...whole };
        }
        if (choice?.finish_reason) finishReason = choice.finish_reason;
      }
    } catch (e) {
      if (signal.aborted) return;
      throw midStreamError(e, errorContext(Sdk));
    }
    // The SDK ends its loop quietly after an abort; only our own check tells the cases apart.
    if (signal.aborted) return;
    // Finished: upstream said `[DONE]`, or named a finish reason. Neither: the stream was cut.
    if (!finishReason && !marker?.seen) throw new UpstreamError(STREAM_CUT_MESSAGE, { retryable: true });
    for (const whole of toolCalls.take(true)) {
      argumentText += whole.call.arguments;
      yield { type: 'tool_call', ...whole };
    }
    // Some servers say `stop` after tool calls; the reply's last act was calling them all the same.
    const finish = toolCalls.count > 0 && (!finishReason || finishReason === 'stop') ? 'tool_calls' : (finishReason ?? 'stop');
    yield { type: 'done', finishReason: finish, usage: usage ?? estimateUsage(request, text + reasoning + argumentText) };
  }

  async function listModels() {
    const { client } = await load();
    const ids: string[] = [];
    for await (const model of client.models.list({ timeout: LIST_TIMEOUT_MS })) ids.push(model.id);
    return modelInfos(name, ids);
  }

  return { name, listModels, stream, logprobs: options.logprobs ?? name === 'openai' };
}
