// A spoken turn, POST /voice/process: the audio is heard (transcribed), the transcript goes
// through the reply engine as a user message (in the caller's chat, or stored nowhere), and the
// reply is spoken. Everything that can be refused is refused before the answer starts (413, 415,
// 422, 404, 429, 502 from the transcription): the SSE variant streams only the reply and its audio.

import type { Config } from '../../config/index.ts';
import type { UserCaller } from '../../http/auth.ts';
import { AppError, invalid, unavailableFrom } from '../../http/errors.ts';
import { type SseItem, sseResponse, withPings } from '../../http/sse.ts';
import type { ProviderName } from '../../infra/llm/types.ts';
import type { Logger } from '../../infra/log/index.ts';
import {
  type SynthesisFormat,
  type SynthesizedAudio,
  type SynthesizeRequest,
  synthesisContentTypes,
  UpstreamError,
} from '../../infra/speech/index.ts';
import type { ChatsService } from '../chats/service.ts';
import type { ModelsService } from '../models/service.ts';
import type { RepliesService } from '../replies/service.ts';
import { type AudioLimits, type InspectedAudio, inspectAudio } from './audio.ts';
import { maxSynthesisChars, type ProcessResult } from './model.ts';

export type ProcessInput = {
  audio: Blob;
  chatId?: string;
  voice?: string;
  format?: SynthesisFormat;
  language?: string;
  provider?: ProviderName;
  model?: string;
};

type Heard = { text: string; language?: string; durationSeconds: number | null };

export type PipelineDeps = {
  config: Config;
  log: Logger;
  replies: RepliesService;
  chats: ChatsService;
  models: ModelsService;
  /** Throws the 503 when no speech server is configured. */
  speechOf: () => unknown;
  audioLimits: () => AudioLimits;
  pickVoice: (asked: string | undefined, field: string) => string;
  /** Transcribes inspected audio and records it; 502 when the speech server fails. */
  hear: (userId: string, audio: InspectedAudio, options: { language?: string }, signal: AbortSignal) => Promise<Heard>;
  /** Starts a synthesis and records it; 502 when the speech server fails. */
  speak: (userId: string, input: Omit<SynthesizeRequest, 'signal'>, signal: AbortSignal) => Promise<SynthesizedAudio>;
};

/**
 * The reply as a synthesis takes it: whole when it fits, else cut at the last space before
 * maxSynthesisChars (speech servers refuse longer input); the text itself is returned whole.
 */
export function speakable(reply: string): string {
  const text = reply.trim();
  if (text.length <= maxSynthesisChars) return text;
  const cut = text.slice(0, maxSynthesisChars);
  const space = cut.search(/\s\S*$/);
  return space > maxSynthesisChars / 2 ? cut.slice(0, space) : cut;
}

/** A stream's bytes, whole; a speech server that breaks off midway is 502. */
async function readAll(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof UpstreamError) throw new AppError('upstream_error', error.message);
    throw error;
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks);
}

const windows = ['perMinute', 'perHour', 'perDay'] as const;

export function createVoicePipeline(deps: PipelineDeps) {
  const { config, log, replies, chats, models } = deps;

  /**
   * Counts the turn's speech as one LLM call. The turn takes two (its reply is admitted when it
   * starts), so with fewer than two left in a window it is refused here, as admit would refuse
   * it, rather than after its audio was heard and billed.
   */
  async function admitTurn(caller: UserCaller, ip: string): Promise<void> {
    if (config.rateLimit.enabled) {
      const status = await replies.limits(caller, ip);
      const short = windows.filter((window) => status.remaining[window] !== null && status.remaining[window] < 2);
      if (short.length > 0) {
        const retryAfter = Math.max(1, ...short.map((window) => status.resetSeconds[window]));
        throw new AppError(
          'rate_limited',
          `LLM call limit reached (${short.join(', ')}): a spoken turn takes two calls, its speech and its reply; retry in ${retryAfter} s`,
          { headers: { 'retry-after': String(retryAfter) } },
        );
      }
    }
    await replies.admit(caller, ip);
  }

  /** The reply spoken, base64; no synthesis (and '') for a reply with nothing to say. */
  async function spokenReply(userId: string, reply: string, voice: string, format: SynthesisFormat, signal: AbortSignal) {
    const text = speakable(reply);
    if (!text) return { audio: '', contentType: synthesisContentTypes[format] };
    const spoken = await deps.speak(userId, { text, voice, format, speed: 1 }, signal);
    return { audio: Buffer.from(await readAll(spoken.body)).toString('base64'), contentType: spoken.contentType };
  }

  return {
    /**
     * Hears `input.audio`, replies to what was said, speaks the reply. JSON: ProcessResult once
     * all is done. `stream`: SSE of `transcript`, the reply's `start`, `delta`… (`reasoning`),
     * then `audio` {format, contentType, audio} and `done` {messageId, finishReason, usage}, or
     * `error` {code, message}. Throws before answering: 413, 415, 422 (unreadable audio, an
     * unknown voice, no speech heard), 404 (not the caller's chat), 429, 502, 503.
     */
    async process(
      caller: UserCaller,
      ip: string,
      input: ProcessInput,
      options: { stream: boolean; signal: AbortSignal },
    ): Promise<ProcessResult | Response> {
      deps.speechOf();
      const userId = caller.user.id;
      const voice = deps.pickVoice(input.voice, 'body.voice');
      const format = input.format ?? 'mp3';
      const audio = await inspectAudio(input.audio, deps.audioLimits());
      // Before anything is spent: another user's chat is a 404, as one that does not exist.
      if (input.chatId) await chats.ownChat(userId, input.chatId);
      await admitTurn(caller, ip);
      const heard = await deps.hear(userId, audio, input.language ? { language: input.language } : {}, options.signal);
      const transcript = heard.text.trim();
      if (!transcript) throw invalid('body.audio', 'holds no speech the speech server could recognise', 'No speech was heard in the audio');
      const model = { ...(input.provider ? { provider: input.provider } : {}), ...(input.model ? { model: input.model } : {}) };
      // The reply is one more LLM call, admitted (and counted) by the chat or stateless door.
      const started = input.chatId
        ? await chats.send(caller, ip, input.chatId, { content: transcript, ...model })
        : await models.startStateless(caller, ip, { message: transcript, ...model });
      const chatId = input.chatId ?? null;

      if (!options.stream) {
        const result = await replies.result(started);
        const spoken = await spokenReply(userId, result.text, voice, format, options.signal);
        return {
          transcript,
          reply: result.text,
          ...spoken,
          format,
          chatId,
          messageId: started.messageId,
          durationSeconds: heard.durationSeconds,
        };
      }

      const base = Date.now();
      let count = 0;
      const item = (event: string, data: unknown): SseItem => ({ id: `${base}-${++count}`, event, data: JSON.stringify(data) });
      async function* events(signal: AbortSignal): AsyncGenerator<SseItem> {
        yield item('transcript', { ...heard, text: transcript });
        try {
          for await (const event of replies.events(started.streamId, signal)) {
            // The turn is done once its reply is spoken: the reply's own `done` is not the end.
            if (event.event === 'done') break;
            yield item(event.event, event.data);
            if (event.event === 'error') return;
          }
          if (signal.aborted) return;
          const result = await replies.result(started);
          const spoken = await spokenReply(userId, result.text, voice, format, signal);
          yield item('audio', { format, ...spoken });
          yield item('done', { messageId: started.messageId, finishReason: result.finishReason, usage: result.usage });
        } catch (error) {
          if (signal.aborted) return;
          const failure = error instanceof AppError ? error : unavailableFrom(error);
          if (!failure) log.error('voice turn failed', { userId, messageId: started.messageId, error });
          const { code, message } = failure ?? { code: 'internal_error', message: 'The voice reply failed' };
          yield item('error', { code, message });
        }
      }
      return sseResponse((signal) => withPings(events(signal), config.ssePingMs));
    },
  };
}
