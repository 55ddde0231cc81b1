import type { UserCaller } from '../../http/auth.ts';
import { AppError, invalid } from '../../http/errors.ts';
import type { Infra } from '../../infra/index.ts';
import { type SynthesisFormat, type SynthesizedAudio, UpstreamError } from '../../infra/speech/index.ts';
import type { ChatsService } from '../chats/service.ts';
import type { ModelsService } from '../models/service.ts';
import type { RepliesService } from '../replies/service.ts';
import { inspectAudio } from './audio.ts';
import type { VoiceUsage } from './model.ts';
import { createVoicePipeline, type ProcessInput } from './pipeline.ts';
import { createVoiceRepository, type VoiceUsageDelta } from './repository.ts';

export type { ProcessInput } from './pipeline.ts';

export type TranscribeInput = { audio: Blob; language?: string; prompt?: string };
export type SynthesizeInput = { text: string; voice?: string; format?: SynthesisFormat; speed?: number };
export type TranscriptView = { text: string; language?: string; durationSeconds: number | null };

const dayOf = (date: Date) => date.toISOString().slice(0, 10);

/** A voice's display name: its id (a word of SPEECH_VOICES), capitalised. */
const voiceName = (id: string) => id.charAt(0).toUpperCase() + id.slice(1);

/**
 * Speech in and out: transcription, synthesis, and the whole turn (speech → text → a reply →
 * speech). Every call that reaches the speech server counts as one LLM call against the caller's
 * limits (the reply of a turn counts as its own, as every reply does) and is recorded in
 * voice_usage. Without a speech server every call is 503 `unavailable` naming what to set.
 */
export function createVoiceService(infra: Infra, deps: { replies: RepliesService; chats: ChatsService; models: ModelsService }) {
  const { config, log } = infra;
  const { replies } = deps;
  const repo = createVoiceRepository(infra.db);

  /** The speech server and its settings, or the 503 that names the variables to set. */
  const speechOf = () => {
    if (!infra.speech || !config.speech) {
      throw new AppError(
        'unavailable',
        'Voice is not configured: set SPEECH_BASE_URL (any OpenAI-compatible speech server, with SPEECH_API_KEY if it needs one) or OPENAI_API_KEY',
      );
    }
    return { client: infra.speech, settings: config.speech };
  };
  const audioLimits = () => ({ maxBytes: config.maxFileSize, maxSeconds: speechOf().settings.maxAudioSeconds });

  /** A speech server failure as 502 `upstream_error`; what the server said goes to the log only. */
  async function upstream<T>(call: 'transcribe' | 'synthesize', work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      log.warn('speech.call_failed', { call, status: error.options.status, error: error.message, detail: error.options.detail });
      throw new AppError('upstream_error', error.message);
    }
  }

  /** Adds to the caller's voice usage of today; a failure to record is logged, never the caller's problem. */
  async function record(userId: string, delta: Partial<VoiceUsageDelta>): Promise<void> {
    const full = { transcriptions: 0, transcribedMs: 0, syntheses: 0, synthesizedChars: 0, ...delta };
    await repo.record(userId, dayOf(new Date()), full).catch((error) => {
      log.error('could not record voice usage', { userId, error });
    });
  }

  /** The voice asked for, or the first of SPEECH_VOICES; 422 on `field` for one not offered. */
  function pickVoice(asked: string | undefined, field: string): string {
    const { voices } = speechOf().settings;
    if (asked === undefined) return voices[0] ?? 'alloy';
    if (!voices.includes(asked)) throw invalid(field, `must be one of ${voices.join(', ')}`, `Unknown voice "${asked}"`);
    return asked;
  }

  /** Sends already-inspected audio for transcription and records it; the caller was admitted. */
  async function hear(
    userId: string,
    audio: Awaited<ReturnType<typeof inspectAudio>>,
    options: { language?: string; prompt?: string },
    signal: AbortSignal,
  ): Promise<TranscriptView> {
    const { client } = speechOf();
    const heard = await upstream('transcribe', () =>
      client.transcribe({
        audio: audio.bytes,
        filename: audio.filename,
        contentType: audio.contentType,
        ...(options.language ? { language: options.language } : {}),
        ...(options.prompt ? { prompt: options.prompt } : {}),
        signal,
      }),
    );
    const durationSeconds = audio.durationSeconds ?? heard.durationSeconds ?? null;
    await record(userId, { transcriptions: 1, transcribedMs: Math.round((durationSeconds ?? 0) * 1000) });
    const language = heard.language ?? options.language;
    return { text: heard.text, ...(language ? { language } : {}), durationSeconds };
  }

  /** Starts a synthesis and records it; resolves once the server answers, its audio still arriving. The caller was admitted. */
  async function speak(userId: string, input: Required<Omit<SynthesizeInput, 'voice'>> & { voice: string }, signal: AbortSignal) {
    const { client } = speechOf();
    const audio = await upstream('synthesize', () => client.synthesize({ ...input, signal }));
    await record(userId, { syntheses: 1, synthesizedChars: [...input.text].length });
    return audio;
  }

  const pipeline = createVoicePipeline({
    config,
    log,
    replies,
    chats: deps.chats,
    models: deps.models,
    speechOf,
    audioLimits,
    pickVoice,
    hear,
    speak,
  });

  return {
    /** SPEECH_VOICES as `{id, name}`; 503 without a speech server. */
    voices() {
      return { data: speechOf().settings.voices.map((id) => ({ id, name: voiceName(id) })) };
    },

    /**
     * Speech to text. Throws 413 (over MAX_FILE_SIZE or MAX_AUDIO_SECONDS), 415 (not an accepted
     * audio format, by content), 422 (unreadable), 429 (the caller's LLM limits), 502 (the speech
     * server failed), 503 (no speech server).
     */
    async transcribe(caller: UserCaller, ip: string, input: TranscribeInput, signal: AbortSignal): Promise<TranscriptView> {
      speechOf();
      const audio = await inspectAudio(input.audio, audioLimits());
      await replies.admit(caller, ip);
      return hear(caller.user.id, audio, input, signal);
    },

    /**
     * Speech to text of audio already stored (a pipeline's `transcribe` step, whose run was
     * admitted already): the same checks and usage record as `transcribe`, no LLM call counted.
     */
    async transcribeStored(userId: string, audio: Blob, signal: AbortSignal): Promise<TranscriptView> {
      speechOf();
      return hear(userId, await inspectAudio(audio, audioLimits()), {}, signal);
    },

    /**
     * Text to speech: resolves once the speech server answers, with its audio as a stream that
     * the route passes on as it arrives. Throws 422 (an unknown voice), 429, 502, 503.
     */
    async synthesize(caller: UserCaller, ip: string, input: SynthesizeInput, signal: AbortSignal): Promise<SynthesizedAudio> {
      speechOf();
      const voice = pickVoice(input.voice, 'body.voice');
      await replies.admit(caller, ip);
      return speak(caller.user.id, { text: input.text, voice, format: input.format ?? 'mp3', speed: input.speed ?? 1 }, signal);
    },

    /** A spoken turn: see pipeline.ts. */
    process: (caller: UserCaller, ip: string, input: ProcessInput, options: { stream: boolean; signal: AbortSignal }) =>
      pipeline.process(caller, ip, input, options),

    /** Transcriptions, seconds heard, syntheses and characters spoken over the last `days` days (UTC), by day. */
    async usage(userId: string, days: number, now = new Date()): Promise<VoiceUsage> {
      const from = dayOf(new Date(now.getTime() - (days - 1) * 86_400_000));
      const rows = await repo.since(userId, from);
      const totalsOf = (list: typeof rows) => {
        const sums = { transcriptions: 0, transcribedMs: 0, syntheses: 0, synthesizedChars: 0 };
        for (const row of list) {
          sums.transcriptions += Number(row.transcriptions);
          sums.transcribedMs += Number(row.transcribedMs);
          sums.syntheses += Number(row.syntheses);
          sums.synthesizedChars += Number(row.synthesizedChars);
        }
        return {
          requests: sums.transcriptions + sums.syntheses,
          transcriptions: sums.transcriptions,
          transcribedSeconds: sums.transcribedMs / 1000,
          syntheses: sums.syntheses,
          synthesizedCharacters: sums.synthesizedChars,
        };
      };
      return { from, to: dayOf(now), totals: totalsOf(rows), byDay: rows.map((row) => ({ day: row.day, ...totalsOf([row]) })) };
    },
  };
}

export type VoiceService = ReturnType<typeof createVoiceService>;
