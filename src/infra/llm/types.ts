// One streaming interface for every LLM provider. A generation always streams from upstream
// (so cancel and first-token timeouts work the same everywhere); non-streamed answers collect it.

import type { ProviderName } from '../../config/index.ts';

export type { ProviderName };

/**
 * Image formats a message may carry: what OpenAI and Anthropic both take (Ollama all but GIF, see
 * ImageInput). Bytes of any other format must be converted by the caller before they get here.
 */
export const IMAGE_MEDIA_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const;
export type ImageMediaType = (typeof IMAGE_MEDIA_TYPES)[number];

export type TextPart = { type: 'text'; text: string };

/**
 * An image, as its bytes or as a link. `data` is standard base64 (RFC 4648 §4, padded, no
 * `data:` prefix, no line breaks) of the bytes in `mediaType`. `url` is an http(s) address the
 * provider fetches itself (Ollama cannot: see ImageInput); a `data:` URL is not a `url`, turn it
 * into bytes with imagePartFromUrl (content.ts).
 */
export type ImagePart = { type: 'image'; mediaType: ImageMediaType; data: string } | { type: 'image'; url: string };

/** One piece of a message: text, or an image (images belong in user turns only). */
export type ContentPart = TextPart | ImagePart;

/**
 * What a turn says: plain text (every stored message, every text-only caller), or parts in
 * order, text and images mixed. A string goes upstream exactly as before; read either shape's
 * text with contentText (content.ts), never with `.content` directly.
 */
export type MessageContent = string | ContentPart[];

/**
 * A function the model may call (OpenAI's `tools[].function`, Anthropic's `tools[]`). `name` is
 * what the model calls it by (OpenAI: 1–64 of `[a-zA-Z0-9_-]`); `parameters` is a JSON Schema
 * object for its arguments (absent: it takes none); `strict` asks upstream to hold the arguments
 * to that schema exactly.
 */
export type ToolDefinition = { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };

/**
 * Whether the model must call a tool: `auto` (its choice; the default when tools are given),
 * `none` (answer in text), `required` (at least one call), or the one tool named.
 */
export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

/**
 * A call the model made. `id` pairs it with its result (a later ToolResultMessage's
 * `toolCallId`); `arguments` is JSON text as the model wrote it (OpenAI's `function.arguments`,
 * Anthropic's `input` serialised), passed on unparsed: a model may write JSON that is not valid.
 */
export type ToolCall = { id: string; name: string; arguments: string };

/** A tool's answer to the call `toolCallId`, as a chat stores it (a `tool` message holds one per call it answers). */
export type ToolResult = { toolCallId: string; content: string };

/** The user's turn. */
export type UserMessage = { role: 'user'; content: MessageContent };

/**
 * The model's turn: its text (possibly '' when it only called tools) and the tools it called, in
 * order. Images never belong here (imageRefusal refuses them).
 */
export type AssistantMessage = { role: 'assistant'; content: MessageContent; toolCalls?: ToolCall[] };

/**
 * What a tool answered, sent back for the call `toolCallId` of an earlier assistant turn
 * (OpenAI's `role: "tool"`, Anthropic's `tool_result` block in a user turn). Text only.
 */
export type ToolResultMessage = { role: 'tool'; toolCallId: string; content: string };

/**
 * One turn of a conversation. Every stored chat is user and assistant turns of text (or parts);
 * tool calls and tool results come only from callers that pass tools (the OpenAI-compatible
 * API, a stateless call). Read any turn's text with contentText (content.ts).
 */
export type ChatMessage = UserMessage | AssistantMessage | ToolResultMessage;

/**
 * How a provider takes images, whatever the model: by URL or only as bytes, and which formats.
 * Which models take images at all is configuration (OPENAI_VISION_MODELS…; see vision.ts).
 */
export type ImageInput = { urls: boolean; mediaTypes: readonly ImageMediaType[] };

/** The shape the reply must take: free text, any JSON object, or JSON matching a named schema. */
export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      jsonSchema: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean };
    };

/**
 * Optional request options beyond max tokens and temperature, as OpenAI's Chat Completions names
 * them. Each provider sends what its API understands and leaves the rest out: OpenAI-compatible
 * upstreams (openai, ollama) take all of them; Anthropic takes `stop` (as `stop_sequences`),
 * `user`, a `json_schema` response format and the reasoning effort (see anthropic.ts); echo
 * ignores them. Absent means "the upstream's default".
 */
export type Sampling = {
  topP?: number;
  /** Up to 4 sequences that end the reply (not included in it). */
  stop?: string[];
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  responseFormat?: ResponseFormat;
  /** Not sampling: the caller's own end-user id, passed on for the upstream's abuse monitoring. */
  user?: string;
  /**
   * How hard a reasoning model thinks (OpenAI's `reasoning_effort`; Anthropic's
   * `output_config.effort`, where `minimal` is `low` and `none` is left out).
   */
  reasoningEffort?: 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh' | 'max';
  /**
   * The reply's token limit goes to OpenAI-compatible upstreams as `max_completion_tokens`
   * (what OpenAI's reasoning models require) instead of `max_tokens`: set when the caller named
   * it so. Other providers have one limit field and ignore this.
   */
  maxCompletionTokens?: boolean;
  /**
   * Return each output token's log probability, with the `top` (0–20) most likely alternatives at
   * each position, as `logprobs` events. Only providers with `logprobs: true` (see LlmProvider)
   * can; the others leave it out, so a caller that needs them checks first.
   */
  logprobs?: { top: number };
};

/** One output token's log probability, as OpenAI's Chat Completions reports it; `bytes` are its UTF-8 bytes (null when upstream gave none). */
export type TokenLogprob = {
  token: string;
  logprob: number;
  bytes: number[] | null;
  /** The most likely tokens at this position (as many as asked for), each with its log probability. */
  topLogprobs: { token: string; logprob: number; bytes: number[] | null }[];
};

export type GenerationRequest = {
  model: string;
  /**
   * Oldest first; usually the user's turn last, but a tool result, or an assistant turn (which
   * the model continues), may end it too. Empty only when `system` is the whole prompt.
   */
  messages: ChatMessage[];
  system?: string;
  maxTokens: number;
  temperature: number;
  sampling?: Sampling;
  /**
   * Functions the model may call (none: a plain reply). Sent to OpenAI-compatible upstreams as
   * `tools`, to Anthropic as its `tools`; echo ignores them. A call comes back as a `tool_call`
   * event and the reply ends with finish reason `tool_calls`.
   */
  tools?: ToolDefinition[];
  /** Only meaningful with `tools`; absent: `auto`. */
  toolChoice?: ToolChoice;
  /** false: at most one tool call per reply (OpenAI `parallel_tool_calls`, Anthropic `disable_parallel_tool_use`); absent: the upstream's default. */
  parallelToolCalls?: boolean;
  /** Aborting it stops the upstream request (cancel, shutdown, timeouts). */
  signal: AbortSignal;
};

export type Usage = { inputTokens: number; outputTokens: number };

export type GenerationEvent =
  | { type: 'delta'; text: string }
  /**
   * The model's thinking (OpenAI-compatible `reasoning_content`/`reasoning`, Anthropic `thinking`),
   * where the provider streams it. Kept apart from the reply: never part of a `delta`, never sent
   * back upstream. It is upstream life all the same (see streamWithResilience's first-token timeout).
   */
  | { type: 'reasoning'; text: string }
  /**
   * One whole tool call, emitted once upstream finished writing it (its arguments complete), in
   * the order the model made them; `index` counts the reply's calls from 0. Counts as the reply
   * having started (nothing is retried after it).
   */
  | { type: 'tool_call'; index: number; call: ToolCall }
  /** The log probabilities of the tokens of the `delta` just before, when the request asked for them (Sampling `logprobs`). */
  | { type: 'logprobs'; content: TokenLogprob[] }
  /**
   * Always last when the upstream finished properly: it reached its terminal marker (OpenAI's
   * `data: [DONE]`, Anthropic's `message_stop`) or named a finish reason. `finishReason` is in
   * OpenAI's words (stop, length, tool_calls, content_filter, …; Anthropic's translated), or
   * `stop` when upstream reached its marker without naming one.
   */
  | {
      type: 'done';
      finishReason: string;
      usage: Usage;
      /** The stop sequence that ended the reply (finish reason `stop`), where upstream says which: Anthropic does. */
      stopSequence?: string;
    };

export type ModelInfo = { id: string; provider: ProviderName; name: string; capabilities: string[] };

export type LlmProvider = {
  readonly name: ProviderName;
  /**
   * What upstream lists, as it lists it (possibly nothing); throws when upstream cannot be asked.
   * Falling back to the configured list is createProviders' job (llm/index.ts), not the provider's.
   */
  listModels(): Promise<ModelInfo[]>;
  /** How its API takes images; absent: by URL or as bytes, in every IMAGE_MEDIA_TYPES format. */
  readonly imageInput?: ImageInput;
  /** Whether it returns log probabilities when asked (Sampling `logprobs`): OpenAI's API does. */
  readonly logprobs?: boolean;
  /**
   * Streams deltas (and reasoning, where upstream thinks aloud) and ends with one `done`. Throws
   * UpstreamError when upstream fails, or when its stream ends without its terminal event (a
   * truncated stream is never a success).
   */
  stream(request: GenerationRequest): AsyncIterable<GenerationEvent>;
};

/**
 * Why an upstream call failed; `retryable` when trying again could help (429, 5xx, network).
 * The message goes to clients as it is (SSE `error`, websocket frames, 502 bodies), so it names
 * the provider and the status and never repeats what upstream said: an upstream's error body may
 * hold its stack traces, hosts or a masked key. What upstream said is `detail`, for the log only.
 * Two things of it may reach a client, for callers that pass upstream's verdict on (the
 * OpenAI-compatible API): `clientMessage`, upstream's own message about a request it refused
 * (400, 404, 413, 422 only: the caller's to fix; credentials masked, capped), and
 * `retryAfterSeconds`, upstream's Retry-After (possibly fractional: `retry-after-ms`).
 */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly options: {
      status?: number;
      retryable: boolean;
      cause?: unknown;
      detail?: string;
      clientMessage?: string;
      retryAfterSeconds?: number;
    },
  ) {
    super(message, { cause: options.cause });
    this.name = 'UpstreamError';
  }
}

/** The caller asked for a provider or model that is not configured or not offered. */
export class UnknownModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownModelError';
  }
}

/** Why a request's images cannot go to a model (see ModelCannotTakeImagesError). */
export type ImageRefusalReason =
  /** The model takes no images (not in its provider's *_VISION_MODELS list). */
  | 'no_vision'
  /** The image is a URL and the provider takes bytes only (Ollama). */
  | 'url'
  /** The provider does not take this format (Ollama: GIF). */
  | 'media_type'
  /** An image in an assistant turn: no provider takes one there. */
  | 'assistant_turn'
  /** Not an image: `data` is not base64, or `url` is not an http(s) URL. */
  | 'malformed';

/**
 * A request's images cannot go to this provider and model; raised before any upstream call
 * (checkImages, content.ts), so nothing was sent or billed. The client's mistake, never an outage:
 * the HTTP error handler answers 422 `validation_error`, and a caller that knows better maps it
 * itself (the OpenAI-compatible gateway: OpenAI's 400 `invalid_request_error`). The message names
 * the model and what to do; `messageIndex`/`partIndex` locate the first image refused (0-based,
 * in the request's messages).
 */
export class ModelCannotTakeImagesError extends Error {
  constructor(
    message: string,
    readonly details: {
      provider: ProviderName;
      model: string;
      reason: ImageRefusalReason;
      messageIndex: number;
      partIndex: number;
    },
  ) {
    super(message);
    this.name = 'ModelCannotTakeImagesError';
  }
}

/** Emitted by streamWithResilience each time it starts an attempt, so the caller knows who answered. */
export type AttemptEvent = { type: 'attempt'; provider: ProviderName; model: string };

/** What streamWithResilience yields: an `attempt` before each try, then the provider's events. */
export type ResilientEvent = AttemptEvent | GenerationEvent;
