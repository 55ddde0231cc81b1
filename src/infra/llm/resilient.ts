// Timeouts, retries and fallbacks around the providers. The one rule that shapes everything:
// once the caller has seen a delta, reasoning or a tool call, nothing is retried (it would repeat
// them), a failure is thrown. Three clocks bound an attempt: the first-token timeout (silence
// before the reply starts), the idle timeout (silence between chunks once it has started) and
// the total.

import type { Logger } from '../log/index.ts';
import { logSafeDetail, sleep, upstreamFailure } from './shared.ts';
import type {
  ChatMessage,
  GenerationEvent,
  GenerationRequest,
  LlmProvider,
  ModelCannotTakeImagesError,
  ProviderName,
  ResilientEvent,
} from './types.ts';
import { UnknownModelError, UpstreamError } from './types.ts';

export type Attempt = { provider: ProviderName; model: string };

export type ResilienceOptions = {
  providers: ReadonlyMap<ProviderName, LlmProvider>;
  /** The requested provider/model first, then the fallbacks, tried in order. */
  attempts: readonly Attempt[];
  /** The model comes from each attempt; the signal from `signal` below. */
  request: Omit<GenerationRequest, 'signal' | 'model'>;
  /** The caller's abort: stops everything at once, quietly. */
  signal: AbortSignal;
  firstTokenTimeoutMs: number;
  /** Once the reply has started (a first delta), the longest upstream may stay silent between two chunks. */
  idleTimeoutMs: number;
  totalTimeoutMs: number;
  maxRetries: number;
  retryBaseMs: number;
  /**
   * Why the request's images cannot go to an attempt's model (Providers.imageRefusal), or
   * undefined when they can. Such an attempt is skipped, never sent: a fallback that takes no
   * images is passed over. Absent: every attempt is tried.
   */
  imageRefusal?: (provider: ProviderName, model: string, messages: readonly ChatMessage[]) => ModelCannotTakeImagesError | undefined;
  log: Logger;
};

/** Backoff never waits longer than this between two tries. */
const MAX_BACKOFF_MS = 10_000;

export function backoffMs(retry: number, baseMs: number): number {
  // Jitter spreads out clients that failed together so they do not retry in lockstep.
  return Math.min(MAX_BACKOFF_MS, baseMs * 2 ** retry + Math.random() * baseMs);
}

const ABORTED = Symbol('aborted');

/** `promise`, or ABORTED as soon as `signal` aborts (a provider ignoring its signal cannot stall us). */
function orAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) {
    promise.catch(() => {}); // settles later; nobody is listening any more
    return Promise.resolve(ABORTED);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function asUpstreamError(e: unknown, provider: ProviderName): UpstreamError {
  if (e instanceof UpstreamError) return e;
  const detail = logSafeDetail(e instanceof Error ? e.message : String(e));
  // A provider that throws something else has a bug or a bad model name: trying again won't help.
  // Its message may carry anything, so clients get the generic one and the log gets the detail.
  return new UpstreamError(upstreamFailure.failed(provider), { retryable: false, cause: e, detail });
}

/** Which silence ended an attempt: before the reply's first token, or between two chunks after it. */
type Silence = 'first token' | 'idle';

export async function* streamWithResilience(options: ResilienceOptions): AsyncGenerator<ResilientEvent> {
  const { providers, request, signal, log } = options;
  if (signal.aborted) return;

  // Aborted by the caller's signal or by the total timeout; every attempt and backoff hangs off it.
  const call = new AbortController();
  let totalTimedOut = false;
  const totalTimer = setTimeout(() => {
    totalTimedOut = true;
    call.abort();
  }, options.totalTimeoutMs);
  const onCallerAbort = () => {
    clearTimeout(totalTimer); // even if the consumer never resumes us, no timer is left behind
    call.abort();
  };
  signal.addEventListener('abort', onCallerAbort, { once: true });
  const timeoutError = () => new UpstreamError(`generation timed out after ${options.totalTimeoutMs} ms`, { retryable: true });

  let yielded = false;
  let lastError: Error | undefined;
  const tried = new Set<string>();
  try {
    for (const attempt of options.attempts) {
      const key = `${attempt.provider}:${attempt.model}`;
      if (tried.has(key)) continue; // a fallback equal to the primary would only repeat its failure
      tried.add(key);
      const provider = providers.get(attempt.provider);
      if (!provider) {
        lastError ??= new UnknownModelError(`provider "${attempt.provider}" is not configured`);
        log.warn('llm.attempt_skipped', { provider: attempt.provider, model: attempt.model, reason: 'not configured' });
        continue;
      }
      const refused = options.imageRefusal?.(attempt.provider, attempt.model, request.messages);
      if (refused) {
        lastError ??= refused;
        log.warn('llm.attempt_skipped', { provider: attempt.provider, model: attempt.model, reason: refused.details.reason });
        continue;
      }

      for (let retry = 0; ; retry++) {
        if (signal.aborted) return;
        if (totalTimedOut) throw timeoutError();
        yield { type: 'attempt', provider: attempt.provider, model: attempt.model };
        if (signal.aborted) return;

        const attemptAc = new AbortController();
        const onCallAbort = () => attemptAc.abort();
        if (call.signal.aborted) attemptAc.abort();
        call.signal.addEventListener('abort', onCallAbort, { once: true });
        // How long upstream may stay silent. Until the first token of the reply: the first-token
        // timeout. Reasoning is upstream life: each chunk of it starts the wait again, so a model
        // that thinks longer than the timeout before it answers is never cut while its thinking
        // keeps coming. Once the reply has started: the idle timeout between two chunks (text or
        // reasoning), so a stream that stalls midway is cut long before the total timeout. The
        // clock stops while the consumer holds an event: only upstream's silence counts.
        let answering = false;
        let silence: Silence | undefined;
        const armSilence = () => {
          const [kind, ms]: [Silence, number] = answering ? ['idle', options.idleTimeoutMs] : ['first token', options.firstTokenTimeoutMs];
          return setTimeout(() => {
            silence = kind;
            attemptAc.abort();
          }, ms);
        };
        const silenceError = (kind: Silence) =>
          kind === 'idle'
            ? new UpstreamError(`the model provider stalled: no token for ${options.idleTimeoutMs} ms`, { retryable: true })
            : new UpstreamError(`no first token within ${options.firstTokenTimeoutMs} ms`, { retryable: true });
        let silenceTimer: ReturnType<typeof setTimeout> | undefined = armSilence();
        let iterator: AsyncIterator<GenerationEvent> | undefined;
        let finished = false;
        let retryable = false;

        try {
          iterator = provider.stream({ ...request, model: attempt.model, signal: attemptAc.signal })[Symbol.asyncIterator]();
          while (true) {
            // Also answers ABORTED at once if the attempt was aborted while the consumer held an event.
            const next = await orAbort(iterator.next(), attemptAc.signal);
            if (next === ABORTED || next.done) break;
            const event = next.value;
            clearTimeout(silenceTimer);
            silenceTimer = undefined;
            // A tool call is the reply as much as text is: after it, nothing is retried.
            if (event.type === 'delta' || event.type === 'tool_call') answering = true;
            if (event.type !== 'done') yielded = true;
            if (event.type === 'done') finished = true;
            yield event;
            if (finished) return;
            silenceTimer = armSilence();
          }
          if (signal.aborted) return;
          if (totalTimedOut) throw timeoutError();
          if (silence) throw silenceError(silence);
          throw new UpstreamError('provider stream ended without finishing', { retryable: true });
        } catch (e) {
          if (signal.aborted) return;
          // A provider may throw when its signal aborts: the clock that aborted it is the reason.
          const error = totalTimedOut ? timeoutError() : silence ? silenceError(silence) : asUpstreamError(e, attempt.provider);
          const fields = {
            provider: attempt.provider,
            model: attempt.model,
            retry,
            status: error.options.status,
            retryable: error.options.retryable,
            error: error.message,
            // What upstream said goes here, to the log only (the message above is what clients get).
            ...(error.options.detail
              ? { detail: error.options.detail }
              : error.cause instanceof Error
                ? { cause: logSafeDetail(error.cause.message) }
                : {}),
          };
          // Text already reached the caller (or the time is up): a retry would repeat or overrun.
          if (yielded || totalTimedOut) {
            log.warn('llm.attempt_failed', { ...fields, next: 'give up' });
            throw error;
          }
          lastError = error;
          retryable = error.options.retryable && retry < options.maxRetries;
          log.warn('llm.attempt_failed', { ...fields, next: retryable ? 'retry' : 'fallback' });
        } finally {
          clearTimeout(silenceTimer);
          call.signal.removeEventListener('abort', onCallAbort);
          if (!finished) {
            attemptAc.abort(); // the consumer left early or we gave up: stop upstream
            // Not awaited: a provider stuck in next() would make return() wait for it.
            try {
              iterator?.return?.().catch(() => {});
            } catch {}
          }
        }
        if (!retryable) break;
        await sleep(backoffMs(retry, options.retryBaseMs), call.signal);
      }
    }
    if (signal.aborted) return;
    if (totalTimedOut) throw timeoutError();
    throw lastError ?? new UpstreamError('no provider to try', { retryable: false });
  } finally {
    clearTimeout(totalTimer);
    signal.removeEventListener('abort', onCallerAbort);
  }
}
