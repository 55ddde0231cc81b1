// One streaming interface for every LLM provider. A generation always streams from upstream
// (so cancel and first-token timeouts work the same everywhere); non-streamed answers collect it.

import type { ProviderName } from '../../config/index.ts';

export type { ProviderName };

export type ChatMessage = { role: 'user' | 'assistant'; content: string };

export type GenerationRequest = {
  model: string;
  /** Oldest first; the last one is the user's turn. */
  messages: ChatMessage[];
  system?: string;
  maxTokens: number;
  temperature: number;
  /** Aborting it stops the upstream request (cancel, shutdown, timeouts). */
  signal: AbortSignal;
};

export type Usage = { inputTokens: number; outputTokens: number };

export type GenerationEvent =
  | { type: 'delta'; text: string }
  /** Always last when the upstream finished properly (stop, length, …). */
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
   * Streams deltas and ends with one `done`. Throws UpstreamError when upstream fails, or when
   * its stream ends without its terminal event (a truncated stream is never a success).
   */
  stream(request: GenerationRequest): AsyncIterable<GenerationEvent>;
};

/** Why an upstream call failed; `retryable` when trying again could help (429, 5xx, network). */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly options: { status?: number; retryable: boolean; cause?: unknown },
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
