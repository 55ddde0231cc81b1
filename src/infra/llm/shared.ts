// Small helpers shared by the providers: error classification, token estimates, model lists.

import type { GenerationRequest, ModelInfo, ProviderName, Usage } from './types.ts';
import { UpstreamError } from './types.ts';

/** Statuses worth retrying: timeouts, conflicts, rate limits and server-side failures. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** Rough token count (~4 characters a token) for upstreams that report no usage. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

export function estimateUsage(request: Pick<GenerationRequest, 'messages' | 'system'>, output: string): Usage {
  const input = (request.system ?? '') + request.messages.map((m) => m.content).join('');
  return { inputTokens: estimateTokens(input), outputTokens: estimateTokens(output) };
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
 * Maps an SDK error (both SDKs share the APIError shape: `status` set for HTTP errors, unset for
 * in-band stream errors and connection failures) to an UpstreamError.
 */
export function toUpstreamError(
  provider: ProviderName,
  e: unknown,
  sdk: { APIError: abstract new (...args: never[]) => Error; APIConnectionError: abstract new (...args: never[]) => Error },
  inBandRetryable: (e: Error) => boolean,
): UpstreamError {
  if (e instanceof UpstreamError) return e;
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof sdk.APIConnectionError) {
    return new UpstreamError(`${provider}: ${message}`, { retryable: true, cause: e });
  }
  if (e instanceof sdk.APIError) {
    const status = (e as Error & { status?: unknown }).status;
    if (typeof status === 'number') {
      return new UpstreamError(`${provider}: ${message}`, { status, retryable: isRetryableStatus(status), cause: e });
    }
    return new UpstreamError(`${provider}: ${message}`, { retryable: inBandRetryable(e), cause: e });
  }
  // Malformed frames, dropped sockets and the like: a fresh attempt may well succeed.
  return new UpstreamError(`${provider}: ${message}`, { retryable: true, cause: e });
}

/** The one message for a reply stream that stopped before its terminal event, however it stopped. */
export const STREAM_CUT_MESSAGE = 'upstream stream ended before it finished';

/**
 * An error met while reading a stream that had started: an in-band error event (an SDK APIError)
 * or a malformed frame keeps its own message; anything else is the connection going away before
 * the terminal event (a reset socket, a proxy giving up), reported as the stream being cut, with
 * the transport's error as its cause.
 */
export function midStreamError(
  provider: ProviderName,
  e: unknown,
  sdk: Parameters<typeof toUpstreamError>[2],
  inBandRetryable: (e: Error) => boolean,
): UpstreamError {
  if (e instanceof UpstreamError || e instanceof sdk.APIError || e instanceof SyntaxError) {
    return toUpstreamError(provider, e, sdk, inBandRetryable);
  }
  return new UpstreamError(STREAM_CUT_MESSAGE, { retryable: true, cause: e });
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
