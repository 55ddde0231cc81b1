// Small helpers shared by the providers: error classification, token estimates, model lists.

import { contentText, imagesOf } from './content.ts';
import type { GenerationRequest, MessageContent, ModelInfo, ProviderName, Usage } from './types.ts';
import { UpstreamError } from './types.ts';

/** Statuses worth retrying: timeouts, conflicts, rate limits and server-side failures. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** Rough token count (~4 characters a token) for upstreams that report no usage. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * What an image is taken to cost when nothing better is known: about what OpenAI charges for a
 * 1024×1024 image at high detail (765) and Anthropic for one of ~1 megapixel (~1,300), rounded.
 */
export const IMAGE_TOKEN_ESTIMATE = 1000;

/** Rough tokens of a turn: its text (estimateTokens) plus IMAGE_TOKEN_ESTIMATE per image. */
export function estimateContentTokens(content: MessageContent): number {
  return estimateTokens(contentText(content)) + imagesOf(content).length * IMAGE_TOKEN_ESTIMATE;
}

/** A tool call as text, for estimates: its name and arguments. */
const toolCallText = (call: { name: string; arguments: string }) => call.name + call.arguments;

/** Rough usage of a request (system, turns, their images) and its output, for upstreams that report none. */
export function estimateUsage(request: Pick<GenerationRequest, 'messages' | 'system'>, output: string): Usage {
  const input =
    (request.system ?? '') +
    request.messages
      .map((m) => contentText(m.content) + (m.role === 'assistant' ? (m.toolCalls ?? []).map(toolCallText).join('') : ''))
      .join('');
  const images = request.messages.reduce((count, m) => count + imagesOf(m.content).length, 0);
  return { inputTokens: estimateTokens(input) + images * IMAGE_TOKEN_ESTIMATE, outputTokens: estimateTokens(output) };
}

/** Upper bound for a model listing, so a hung upstream cannot stall GET /models. */
export const LIST_TIMEOUT_MS = 5000;

export function modelInfo(provider: ProviderName, id: string): ModelInfo {
  return { id, provider, name: id, capabilities: ['chat', 'stream'] };
}

export function modelInfos(provider: ProviderName, ids: readonly string[]): ModelInfo[] {
  return [...new Set(ids)].map((id) => modelInfo(provider, id));
}

/**
 * What clients are told when a provider fails: which provider, and the HTTP status or the kind of
 * failure. Never what upstream said (see UpstreamError): that is `detail`, for the log.
 */
export const upstreamFailure = {
  status: (provider: ProviderName, status: number) => `The model provider (${provider}) answered HTTP ${status}`,
  unreachable: (provider: ProviderName) => `The model provider (${provider}) could not be reached`,
  reported: (provider: ProviderName) => `The model provider (${provider}) reported an error`,
  malformed: (provider: ProviderName) => `The model provider (${provider}) sent a malformed response`,
  failed: (provider: ProviderName) => `The model provider (${provider}) failed`,
};

/** How much of what upstream said a log line keeps (an HTML error page can be large). */
const DETAIL_MAX_CHARS = 1000;

/**
 * Anything in upstream text shaped like a credential, with what replaces it: `Bearer …`,
 * OpenAI/Anthropic keys (`sk-…`, `sk-ant-…`, also as upstream masks them: `sk-proj-****abcd`),
 * Parley keys (`pk_…`), and `key=…` or `"token": "…"` style pairs.
 */
const credentials: [RegExp, string][] = [
  [/\bBearer\s+[^\s"',;]+/gi, 'Bearer [redacted]'],
  [/\b(?:sk|pk)[-_][\w*.-]{6,}/g, '[redacted]'],
  [/\b((?:api[-_]?key|access[-_]?token|token|secret|password|authorization)["']?\s*[:=]\s*["']?)[^\s"',;&]+/gi, '$1[redacted]'],
];

/**
 * Upstream text fit for a log line: credentials masked (the patterns above, and `secrets`, such as
 * the provider's own key, wherever they appear), capped at DETAIL_MAX_CHARS.
 */
export function logSafeDetail(text: string, secrets: readonly (string | undefined)[] = []): string {
  let safe = text;
  for (const secret of secrets) if (secret && secret.length >= 8) safe = safe.replaceAll(secret, '[redacted]');
  for (const [pattern, replacement] of credentials) safe = safe.replace(pattern, replacement);
  return safe.length > DETAIL_MAX_CHARS ? `${safe.slice(0, DETAIL_MAX_CHARS)}…` : safe;
}

/** What a provider knows to turn an SDK error into an UpstreamError. */
export type UpstreamErrorContext = {
  provider: ProviderName;
  /** Both SDKs share the APIError shape: `status` set for HTTP errors, unset for in-band stream errors. */
  sdk: { APIError: abstract new (...args: never[]) => Error; APIConnectionError: abstract new (...args: never[]) => Error };
  /** Whether an in-band error event (no HTTP status) is worth another attempt. */
  inBandRetryable: (e: Error) => boolean;
  /** Masked in the logged detail wherever it appears (the provider's API key). */
  secrets?: readonly (string | undefined)[];
};

/**
 * Maps an SDK error (an HTTP error, an in-band stream error, a connection failure, anything else)
 * to an UpstreamError whose message is fit for clients and whose detail (for the log) is what
 * upstream or the SDK said.
 */
export function toUpstreamError(e: unknown, context: UpstreamErrorContext): UpstreamError {
  if (e instanceof UpstreamError) return e;
  const { provider, sdk, inBandRetryable } = context;
  const detail = logSafeDetail(e instanceof Error ? e.message : String(e), context.secrets);
  if (e instanceof sdk.APIConnectionError) {
    return new UpstreamError(upstreamFailure.unreachable(provider), { retryable: true, cause: e, detail });
  }
  if (e instanceof sdk.APIError) {
    const status = (e as Error & { status?: unknown }).status;
    if (typeof status === 'number') {
      const clientMessage = CLIENT_ERROR_STATUSES.has(status) ? upstreamMessageOf(e, context.secrets) : undefined;
      const retryAfterSeconds = retryAfterOf((e as { headers?: unknown }).headers);
      return new UpstreamError(upstreamFailure.status(provider, status), {
        status,
        retryable: isRetryableStatus(status),
        cause: e,
        detail,
        ...(clientMessage ? { clientMessage } : {}),
        ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
      });
    }
    return new UpstreamError(upstreamFailure.reported(provider), { retryable: inBandRetryable(e), cause: e, detail });
  }
  // Malformed frames, dropped sockets and the like: a fresh attempt may well succeed.
  const message = e instanceof SyntaxError ? upstreamFailure.malformed(provider) : upstreamFailure.failed(provider);
  return new UpstreamError(message, { retryable: true, cause: e, detail });
}

/** Upstream statuses that mean the request itself was refused: what upstream said about it may go to the client. */
const CLIENT_ERROR_STATUSES = new Set([400, 404, 413, 422]);

/** How much of upstream's message about a refused request a client gets. */
const CLIENT_MESSAGE_MAX_CHARS = 500;

/**
 * Upstream's own message from an SDK error's parsed body (OpenAI `{error: {message}}`, as the
 * SDK holds it in `error`; Anthropic `{type: "error", error: {message}}`), credentials masked and
 * capped; undefined when there is none.
 */
function upstreamMessageOf(e: Error, secrets: readonly (string | undefined)[] = []): string | undefined {
  const body = (e as { error?: unknown }).error as { message?: unknown; error?: { message?: unknown } } | undefined;
  const said = typeof body?.message === 'string' ? body.message : body?.error?.message;
  if (typeof said !== 'string' || !said.trim()) return undefined;
  const safe = logSafeDetail(said, secrets);
  return safe.length > CLIENT_MESSAGE_MAX_CHARS ? `${safe.slice(0, CLIENT_MESSAGE_MAX_CHARS)}…` : safe;
}

/** Seconds (possibly fractional) from upstream's `retry-after-ms` or `retry-after` (seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterOf(headers: unknown): number | undefined {
  if (!(headers instanceof Headers)) return undefined;
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms / 1000;
  const value = headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number.parseFloat(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, (date - Date.now()) / 1000) : undefined;
}

/** The one message for a reply stream that stopped before its terminal event, however it stopped. */
export const STREAM_CUT_MESSAGE = 'upstream stream ended before it finished';

/**
 * An error met while reading a stream that had started: an in-band error event (an SDK APIError)
 * or a malformed frame is mapped by toUpstreamError; anything else is the connection going away
 * before the terminal event (a reset socket, a proxy giving up), reported as the stream being cut,
 * with the transport's error as its cause and detail.
 */
export function midStreamError(e: unknown, context: UpstreamErrorContext): UpstreamError {
  if (e instanceof UpstreamError || e instanceof context.sdk.APIError || e instanceof SyntaxError) {
    return toUpstreamError(e, context);
  }
  const detail = logSafeDetail(e instanceof Error ? e.message : String(e), context.secrets);
  return new UpstreamError(STREAM_CUT_MESSAGE, { retryable: true, cause: e, detail });
}

/** A fetch timeout whose timer is always cleared (AbortSignal.timeout would outlive the call). */
export async function withTimeout<T>(ms: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`timed out after ${ms} ms`)), ms);
  try {
    return await run(ac.signal);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms`, or as soon as `signal` aborts; never leaves its timer behind. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
