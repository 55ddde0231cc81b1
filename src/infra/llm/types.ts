// One streaming interface for every LLM provider. A generation always streams from upstream
// (so cancel and first-token timeouts work the same everywhere); non-streamed answers collect it.

import type { ProviderName } from '../../config/index.ts';

export type { ProviderName };

export type ChatMessage = { role: 'user' | 'assistant'; content: string };

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
 * upstreams (openai, ollama) take all of them; Anthropic takes `stop` (as `stop_sequences`) only;
 * echo ignores them. Absent means "the upstream's default".
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
};

export type GenerationRequest = {
  model: string;
  /** Oldest first; the last one is the user's turn. */
  messages: ChatMessage[];
  system?: string;
  maxTokens: number;
  temperature: number;
  sampling?: Sampling;
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
   * Always last when the upstream finished properly: it reached its terminal marker (OpenAI's
   * `data: [DONE]`, Anthropic's `message_stop`) or named a finish reason. `finishReason` is
   * upstream's (stop, length, …), or `stop` when it reached its marker without naming one.
   */
  | { type: 'done'; finishReason: string; usage: Usage };

export type ModelInfo = { id: string; provider: ProviderName; name: string; capabilities: string[] };

export type LlmProvider = {
  readonly name: ProviderName;
  /**
   * What upstream lists, as it lists it (possibly nothing); throws when upstream cannot be asked.
   * Falling back to the configured list is createProviders' job (llm/index.ts), not the provider's.
   */
  listModels(): Promise<ModelInfo[]>;
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
 */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly options: { status?: number; retryable: boolean; cause?: unknown; detail?: string },
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

/** Emitted by streamWithResilience each time it starts an attempt, so the caller knows who answered. */
export type AttemptEvent = { type: 'attempt'; provider: ProviderName; model: string };

/** What streamWithResilience yields: an `attempt` before each try, then the provider's events. */
export type ResilientEvent = AttemptEvent | GenerationEvent;
