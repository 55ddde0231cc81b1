// What the reply engine takes and gives: a generation's input, its result and how it failed, and
// the model runner and observer it is built with (engine.ts runs them; service.ts is the door).
import type {
  ChatMessage,
  GenerationRequest,
  ProviderName,
  ResilientEvent,
  Sampling,
  TokenLogprob,
  ToolCall,
  ToolChoice,
  ToolDefinition,
  Usage,
} from '../../infra/llm/types.ts';
import type { ReplySlot } from './limits.ts';
import type { MessageRow } from './repository.ts';

/** Runs one model call with retries, timeouts and fallbacks (bound in app.ts to the providers). */
export type ModelRunner = (
  request: Omit<GenerationRequest, 'signal'> & { provider: ProviderName },
  signal: AbortSignal,
) => AsyncIterable<ResilientEvent>;

export type GenerationInput = {
  userId: string;
  /** The API key the call was made with (the caller's `apiKeyId`): its usage is recorded against the key too. */
  apiKeyId: string | null;
  /** With a chat, the reply is stored there as an assistant message; without, only its usage is. */
  chatId: string | null;
  /** The message the reply answers (its parent in the chat's tree): a user message, or a `tool` message of results. */
  userMessageId: string | null;
  /**
   * The user message whose turn the reply belongs to, when it answers something else (tool
   * results): its sort key's prefix (see the schema). Absent: `userMessageId`.
   */
  turnId?: string;
  provider: ProviderName;
  model: string;
  system?: string;
  /**
   * Oldest first, usually the user's turn last (a stateless conversation may end with tool results
   * or an assistant turn); its content may hold images (see ContentPart), checked by RepliesService.start.
   */
  history: ChatMessage[];
  /** MAX_TOKENS when absent. */
  maxTokens?: number;
  /** TEMPERATURE when absent. */
  temperature?: number;
  /** Further sampling options (the OpenAI-compatible API's top_p, stop, seed…); each provider sends what it understands. */
  sampling?: Sampling;
  /**
   * Functions the model may call. Each call is a `tool_call` event {index, id, name, arguments}
   * in the stream and the result's `toolCalls`; a chat's reply stores them on its message.
   */
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  /** What of the prompt the model does not see (attachments cut to fit), told in the `start` event. */
  notes?: string[];
  /** The caller's place among their concurrent replies (from `admitReply`): renewed while this runs, freed before its last event. */
  slot?: ReplySlot | null;
  /** Awaited once the assistant message is stored as `streaming`, before the reply starts (a stored reply only). */
  onCreated?: (message: MessageRow) => void | Promise<void>;
  /** Awaited once the finished reply is stored, before `done` is sent (a stored reply only). */
  onStored?: (message: MessageRow) => void | Promise<void>;
  /**
   * Awaited once the reply ended, whatever its status, before its last event (`done` or `error`):
   * what a caller keeps of it elsewhere (a stored Response) is kept before any reader sees the
   * end. Its failure is logged, never the reply's.
   */
  onSettled?: (result: GenerationResult, streamId: string) => void | Promise<void>;
};

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
  /** The stop sequence that ended the reply, where the provider says which (Anthropic); the `done` event carries it too. */
  stopSequence?: string;
  usage: Usage;
  /** The tools the model called, in order (none without `tools`). */
  toolCalls: ToolCall[];
  /** Each output token's log probability when the request asked for them (Sampling `logprobs`) and the provider gave them; else null. */
  logprobs: TokenLogprob[] | null;
  error?: GenerationFailure;
  message?: MessageRow;
};

/**
 * Why a reply failed, as its `error` event says it (`code`, `message`), plus what a caller that
 * passes upstream's verdict on may use (never in the event): the upstream HTTP status, upstream's
 * own message about a request it refused, and its Retry-After (see UpstreamError).
 */
export type GenerationFailure = {
  code: string;
  message: string;
  upstream?: { status?: number; clientMessage?: string; retryAfterSeconds?: number };
};
