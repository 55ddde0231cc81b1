// Speech through the official `openai` SDK (audio.transcriptions, audio.speech), against OpenAI or
// any server that speaks its audio API (a self-hosted whisper / TTS server, a gateway).

import type OpenAI from 'openai';
import { isRetryableStatus, logSafeDetail } from '../llm/shared.ts';
import {
  type SpeechClient,
  type SynthesizedAudio,
  type SynthesizeRequest,
  synthesisContentTypes,
  type TranscribeRequest,
  type Transcription,
  UpstreamError,
} from './types.ts';

export type OpenAiSpeechOptions = {
  /** Includes `/v1`, e.g. `https://api.openai.com/v1`. */
  baseUrl: string;
  /** Null for a server that needs none (the SDK is given a placeholder). */
  apiKey: string | null;
  transcribeModel: string;
  synthesizeModel: string;
  /** Longest wait for synthesised audio to begin (the server's answer), in ms. */
  answerTimeoutMs: number;
  /** Longest a whole call may take, audio body included, in ms. */
  totalTimeoutMs: number;
};

/** What clients are told; what the server said goes to `detail`, for the log only (see UpstreamError). */
const failure = {
  status: (status: number) => `The speech server answered HTTP ${status}`,
  unreachable: 'The speech server could not be reached',
  timeout: (ms: number) => `The speech server did not answer within ${ms} ms`,
  cut: 'The speech server stopped sending audio before it finished',
  failed: 'The speech server failed',
};

/**
 * OpenAI's gpt-4o transcription models answer only `json` or `text`; whisper and the self-hosted
 * servers built on it answer `verbose_json`, which adds the language and the duration.
 */
const answersVerbose = (model: string) => !/^gpt-4o/i.test(model);

export function createOpenAiSpeech(options: OpenAiSpeechOptions): SpeechClient {
  // Loaded on first use, as the LLM provider does: an instance that never speaks starts faster.
  let loaded: Promise<{ Sdk: typeof OpenAI; client: OpenAI; toFile: typeof import('openai').toFile }> | undefined;
  const load = () =>
    (loaded ??= import('openai').then(({ default: Sdk, toFile }) => ({
      Sdk,
      toFile,
      client: new Sdk({
        apiKey: options.apiKey || 'unused',
        baseURL: options.baseUrl,
        // One attempt: a retry would bill the caller's audio twice; clients retry a 502 themselves.
        maxRetries: 0,
      }),
    })));

  /** An SDK or network error as an UpstreamError fit for clients; what the server said is kept as `detail`. */
  const toUpstreamError = (e: unknown, Sdk: typeof OpenAI, timedOut: number | undefined): UpstreamError => {
    if (e instanceof UpstreamError) return e;
    const detail = logSafeDetail(e instanceof Error ? e.message : String(e), [options.apiKey ?? undefined]);
    if (timedOut !== undefined) return new UpstreamError(failure.timeout(timedOut), { retryable: true, cause: e, detail });
    if (e instanceof Sdk.APIConnectionError) return new UpstreamError(failure.unreachable, { retryable: true, cause: e, detail });
    if (e instanceof Sdk.APIError && typeof e.status === 'number') {
      return new UpstreamError(failure.status(e.status), { status: e.status, retryable: isRetryableStatus(e.status), cause: e, detail });
    }
    return new UpstreamError(failure.failed, { retryable: true, cause: e, detail });
  };

  /**
   * The clocks of one call: the total one, and with `answer` the wait for the answer to begin
   * (stopped by `answered()`); `settle()` when it is over. The signal aborts when the caller's
   * does, or when a clock runs out (`timedOut` names it).
   */
  const clocks = (callerSignal: AbortSignal, { answer: timesAnswer }: { answer: boolean }) => {
    const ac = new AbortController();
    const state = { timedOut: undefined as number | undefined };
    const expire = (ms: number) => () => {
      state.timedOut = ms;
      ac.abort(new Error(failure.timeout(ms)));
    };
    let answer: Timer | undefined = timesAnswer ? setTimeout(expire(options.answerTimeoutMs), options.answerTimeoutMs) : undefined;
    const total = setTimeout(expire(options.totalTimeoutMs), options.totalTimeoutMs);
    const onCallerAbort = () => ac.abort(callerSignal.reason);
    if (callerSignal.aborted) onCallerAbort();
    else callerSignal.addEventListener('abort', onCallerAbort, { once: true });
    return {
      signal: ac.signal,
      state,
      answered: () => {
        clearTimeout(answer);
        answer = undefined;
      },
      settle: () => {
        clearTimeout(answer);
        clearTimeout(total);
        callerSignal.removeEventListener('abort', onCallerAbort);
      },
      abort: () => ac.abort(),
    };
  };

  async function transcribe(request: TranscribeRequest): Promise<Transcription> {
    const { Sdk, client, toFile } = await load();
    // A transcript comes whole, after the server has heard all of the audio: only the total clock.
    const clock = clocks(request.signal, { answer: false });
    const model = options.transcribeModel;
    try {
      const file = await toFile(request.audio, request.filename, { type: request.contentType });
      const common = {
        file,
        model,
        ...(request.language ? { language: request.language } : {}),
        ...(request.prompt ? { prompt: request.prompt } : {}),
      };
      if (answersVerbose(model)) {
        const result = await client.audio.transcriptions.create({ ...common, response_format: 'verbose_json' }, { signal: clock.signal });
        return {
          text: result.text,
          ...(typeof result.language === 'string' && result.language ? { language: result.language } : {}),
          ...(typeof result.duration === 'number' && Number.isFinite(result.duration) ? { durationSeconds: result.duration } : {}),
        };
      }
      const result = await client.audio.transcriptions.create({ ...common, response_format: 'json' }, { signal: clock.signal });
      return { text: result.text };
    } catch (e) {
      throw toUpstreamError(e, Sdk, clock.state.timedOut);
    } finally {
      clock.settle();
    }
  }

  async function synthesize(request: SynthesizeRequest): Promise<SynthesizedAudio> {
    const { Sdk, client } = await load();
    const clock = clocks(request.signal, { answer: true });
    let response: Response;
    try {
      response = await client.audio.speech.create(
        {
          model: options.synthesizeModel,
          input: request.text,
          voice: request.voice,
          response_format: request.format,
          speed: request.speed,
        },
        { signal: clock.signal },
      );
    } catch (e) {
      clock.settle();
      throw toUpstreamError(e, Sdk, clock.state.timedOut);
    }
    clock.answered();
    const upstream = response.body;
    if (!upstream) {
      clock.settle();
      throw new UpstreamError(failure.failed, { retryable: true, detail: 'the speech server answered with no body' });
    }
    const type = response.headers.get('content-type') ?? '';
    const contentType = /^audio\//i.test(type) ? type : synthesisContentTypes[request.format];
    // Passed on chunk by chunk; the total clock keeps running until the last byte, and a reader
    // that leaves stops the upstream request.
    const reader = upstream.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            clock.settle();
            controller.close();
          } else controller.enqueue(value);
        } catch (e) {
          clock.settle();
          const error =
            clock.state.timedOut !== undefined
              ? toUpstreamError(e, Sdk, clock.state.timedOut)
              : new UpstreamError(failure.cut, {
                  retryable: true,
                  cause: e,
                  detail: logSafeDetail(e instanceof Error ? e.message : String(e)),
                });
          controller.error(error);
        }
      },
      async cancel(reason) {
        clock.settle();
        clock.abort();
        await reader.cancel(reason).catch(() => undefined);
      },
    });
    return { contentType, body };
  }

  return { baseUrl: options.baseUrl, transcribe, synthesize };
}
