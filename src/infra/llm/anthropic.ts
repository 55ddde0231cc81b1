// Anthropic Messages API through the official SDK, reading the raw stream events.
// A reply is finished when `message_stop` arrives, whether or not a `message_delta` named a
// stop_reason before it (none, null or "": finish reason "stop"). A stream that ends without
// `message_stop` was cut: an error. `thinking` blocks stream as reasoning, apart from the text.

import type Anthropic from '@anthropic-ai/sdk';
import type {
  ToolChoice as AnthropicToolChoice,
  ContentBlockParam,
  MessageCreateParamsStreaming,
  MessageParam,
  Tool,
  ToolResultBlockParam,
} from '@anthropic-ai/sdk/resources/messages';
import { isBase64Image } from './content.ts';
import type { UpstreamFetch } from './pool.ts';
import { LIST_TIMEOUT_MS, midStreamError, modelInfos, STREAM_CUT_MESSAGE, toUpstreamError, type UpstreamErrorContext } from './shared.ts';
import type { ChatMessage, ContentPart, GenerationEvent, GenerationRequest, LlmProvider, Sampling, ToolCall } from './types.ts';
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
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/**
 * OpenAI's `stop` as Anthropic's `stop_sequences`. The Messages API refuses a sequence that is
 * only whitespace (400 "each stop sequence must contain non-whitespace"), so such a one (a
 * common `"\n"`) is left out rather than failing the whole request.
 */
function stopSequences(stop: string[] | undefined): { stop_sequences?: string[] } {
  const kept = (stop ?? []).filter((sequence) => sequence.trim() !== '');
  return kept.length ? { stop_sequences: kept } : {};
}

/** A part as a Messages API content block: an image as an `image` block, its bytes as a base64 source. */
function toAnthropicBlock(part: ContentPart): ContentBlockParam {
  if (part.type === 'text') return { type: 'text', text: part.text };
  return {
    type: 'image',
    source: isBase64Image(part) ? { type: 'base64', media_type: part.mediaType, data: part.data } : { type: 'url', url: part.url },
  };
}

/** A tool call's JSON arguments as a `tool_use` block's `input`, which must be an object: anything else (a model's broken JSON) as `{}`. */
function inputOf(call: ToolCall): Record<string, unknown> {
  try {
    const input: unknown = JSON.parse(call.arguments || '{}');
    return input !== null && typeof input === 'object' && !Array.isArray(input) ? (input as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * The conversation as the Messages API takes it: a string turn as it is (a text-only request is
 * what it always was), parts as blocks; an assistant's tool calls as `tool_use` blocks after its
 * text; tool results as `tool_result` blocks of one user turn (consecutive results together, as
 * the API wants them answered).
 */
function toAnthropicMessages(messages: readonly ChatMessage[]): MessageParam[] {
  const out: MessageParam[] = [];
  let results: ToolResultBlockParam[] | undefined;
  for (const message of messages) {
    if (message.role === 'tool') {
      const block: ToolResultBlockParam = { type: 'tool_result', tool_use_id: message.toolCallId, content: message.content };
      if (results) results.push(block);
      else out.push({ role: 'user', content: (results = [block]) });
      continue;
    }
    results = undefined;
    const { content } = message;
    if (message.role === 'user' || !message.toolCalls?.length) {
      out.push({ role: message.role, content: typeof content === 'string' ? content : content.map(toAnthropicBlock) });
      continue;
    }
    const text: ContentBlockParam[] =
      typeof content === 'string' ? (content ? [{ type: 'text', text: content }] : []) : content.map(toAnthropicBlock);
    const calls = message.toolCalls.map(
      (call): ContentBlockParam => ({ type: 'tool_use', id: call.id, name: call.name, input: inputOf(call) }),
    );
    out.push({ role: 'assistant', content: [...text, ...calls] });
  }
  return out;
}

/** The request's tools and tool choice in the Messages API's words; nothing when it has no tools. */
/**
 * The request's tools and tool choice in the Messages API's words. Anthropic refuses a history
 * that holds tool calls or results when the request defines no tools ("Requests which include
 * tool_use or tool_result blocks must define tools"), which a caller may well send (a question
 * after a tool round, with the tools dropped): the tools the history names are then declared,
 * taking any input, with `tool_choice: none`, so the model reads the round and calls nothing.
 */
function toolParams(request: GenerationRequest): Pick<MessageCreateParamsStreaming, 'tools' | 'tool_choice'> {
  if (!request.tools?.length) return historyToolParams(request.messages);
  const tools: Tool[] = request.tools.map((tool) => ({
    name: tool.name,
    ...(tool.description !== undefined ? { description: tool.description } : {}),
    // The API wants an object schema even for a tool that takes nothing.
    input_schema: { type: 'object', ...(tool.parameters ?? {}) } as Tool.InputSchema,
    ...(tool.strict !== undefined ? { strict: tool.strict } : {}),
  }));
  const choice = request.toolChoice ?? 'auto';
  const single = request.parallelToolCalls === false ? { disable_parallel_tool_use: true } : {};
  const toolChoice: AnthropicToolChoice =
    choice === 'none'
      ? { type: 'none' }
      : choice === 'auto'
        ? { type: 'auto', ...single }
        : choice === 'required'
          ? { type: 'any', ...single }
          : { type: 'tool', name: choice.name, ...single };
  return { tools, tool_choice: toolChoice };
}

/** For a request with no tools whose history holds a tool round (see toolParams): its tools declared, none to be called. */
function historyToolParams(messages: GenerationRequest['messages']): Pick<MessageCreateParamsStreaming, 'tools' | 'tool_choice'> {
  const names = new Set<string>();
  let results = false;
  for (const message of messages) {
    if (message.role === 'assistant') for (const call of message.toolCalls ?? []) names.add(call.name);
    if (message.role === 'tool') results = true;
  }
  // Results whose calls are not in the history still need a tool defined.
  if (names.size === 0 && results) names.add('tool');
  if (names.size === 0) return {};
  const anyInput = { type: 'object' } as Tool.InputSchema;
  return { tools: [...names].map((name) => ({ name, input_schema: anyInput })), tool_choice: { type: 'none' } };
}

/** OpenAI's reasoning effort in the Messages API's `output_config.effort` words (`none`: no setting). */
const EFFORTS: Record<string, 'low' | 'medium' | 'high' | 'xhigh' | 'max' | undefined> = {
  minimal: 'low',
  low: 'low',
  medium: 'medium',
  high: 'high',
  xhigh: 'xhigh',
  max: 'max',
};

/**
 * What of the sampling options the Messages API has: stop sequences, the end-user id as
 * `metadata.user_id`, a JSON schema as `output_config.format` (structured outputs) and the
 * reasoning effort as `output_config.effort`. A bare `json_object` has no counterpart there.
 */
function samplingParams(sampling: Sampling | undefined): Partial<MessageCreateParamsStreaming> {
  if (!sampling) return {};
  const format = sampling.responseFormat?.type === 'json_schema' ? sampling.responseFormat.jsonSchema.schema : undefined;
  const effort = sampling.reasoningEffort ? EFFORTS[sampling.reasoningEffort] : undefined;
  const outputConfig = {
    ...(format ? { format: { type: 'json_schema' as const, schema: format } } : {}),
    ...(effort ? { effort } : {}),
  };
  return {
    ...stopSequences(sampling.stop),
    ...(sampling.user !== undefined ? { metadata: { user_id: sampling.user } } : {}),
    ...(Object.keys(outputConfig).length ? { output_config: outputConfig } : {}),
  };
}

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
  const inBandRetryable = (err: Error) => {
    const type = (err as { type?: unknown }).type;
    return typeof type === 'string' && RETRYABLE_TYPES.has(type);
  };
  const errorContext = (Sdk: typeof Anthropic): UpstreamErrorContext => ({
    provider: 'anthropic',
    sdk: Sdk,
    inBandRetryable,
    secrets: [options.apiKey],
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
          // No temperature and no top_p: SDK 1.x speaks API version 2026-10-21, which rejects
          // sampling parameters (temperature, top_p, top_k) with a 400 on every model, even at
          // their defaults. Nor seed or penalties: the Messages API has none.
          ...samplingParams(request.sampling),
          ...toolParams(request),
          // A prompt that is only a system message (OpenAI takes one) is the user's turn here: the API wants one.
          ...(request.system && request.messages.length ? { system: request.system } : {}),
          messages: request.messages.length ? toAnthropicMessages(request.messages) : [{ role: 'user', content: request.system ?? '' }],
          stream: true,
        },
        { signal },
      );
    } catch (e) {
      if (signal.aborted) return;
      throw toUpstreamError(e, errorContext(Sdk));
    }

    let inputTokens = 0;
    let outputTokens = 0;
    let stopReason: string | undefined;
    let stopSequence: string | undefined;
    let stopped = false;
    // Tool calls by content block index, each whole at its block's stop.
    const calls = new Map<number, ToolCall>();
    let callCount = 0;
    try {
      for await (const event of events) {
        if (signal.aborted) return;
        switch (event.type) {
          case 'message_start':
            inputTokens = event.message.usage?.input_tokens ?? 0;
            outputTokens = event.message.usage?.output_tokens ?? 0;
            break;
          case 'content_block_start':
            if (event.content_block.type === 'tool_use') {
              const { id, name, input } = event.content_block;
              // The input streams as JSON pieces; one given whole at the start (and no pieces) stands.
              const given = input && typeof input === 'object' && Object.keys(input).length ? JSON.stringify(input) : '';
              calls.set(event.index, { id, name, arguments: given });
            }
            break;
          case 'content_block_delta':
            if (event.delta.type === 'text_delta' && event.delta.text) yield { type: 'delta', text: event.delta.text };
            else if (event.delta.type === 'thinking_delta' && event.delta.thinking) yield { type: 'reasoning', text: event.delta.thinking };
            else if (event.delta.type === 'input_json_delta') {
              const call = calls.get(event.index);
              if (call) call.arguments += event.delta.partial_json;
            }
            break;
          case 'content_block_stop': {
            const call = calls.get(event.index);
            if (call) {
              calls.delete(event.index);
              yield { type: 'tool_call', index: callCount++, call: { ...call, arguments: call.arguments || '{}' } };
            }
            break;
          }
          case 'message_delta':
            if (event.delta?.stop_reason) stopReason = event.delta.stop_reason;
            if (event.delta?.stop_sequence) stopSequence = event.delta.stop_sequence;
            // output_tokens here is cumulative; input_tokens may be restated (or null).
            if (typeof event.usage?.output_tokens === 'number') outputTokens = event.usage.output_tokens;
            if (typeof event.usage?.input_tokens === 'number') inputTokens = event.usage.input_tokens;
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
      throw midStreamError(e, errorContext(Sdk));
    }
    if (signal.aborted) return; // the SDK just ends its loop after an abort
    if (!stopped) throw new UpstreamError(STREAM_CUT_MESSAGE, { retryable: true });
    // message_stop without a stop reason: the message is whole all the same.
    const finishReason = stopReason ? (FINISH_REASONS[stopReason] ?? stopReason) : 'stop';
    yield { type: 'done', finishReason, usage: { inputTokens, outputTokens }, ...(stopSequence ? { stopSequence } : {}) };
  }

  async function listModels() {
    const { client } = await load();
    const ids: string[] = [];
    for await (const model of client.models.list({ limit: 100 }, { timeout: LIST_TIMEOUT_MS })) ids.push(model.id);
    return modelInfos('anthropic', ids);
  }

  return { name: 'anthropic', listModels, stream };
}
