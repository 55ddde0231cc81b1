// A fake OpenAI-compatible speech server: OpenAI's audio API as the official SDK speaks it.
//   POST /v1/audio/transcriptions  multipart (file, model, language, prompt, response_format
//                                  json | verbose_json | text) → {text} / verbose_json with
//                                  `duration` (read from a WAV's header; 0 for other formats) and
//                                  `language` / plain text. Not real ASR: the text is scripted per
//                                  file (`script`), else `fakeTranscript(bytes)`.
//   POST /v1/audio/speech          JSON (model, input, voice, response_format, speed) → real audio
//                                  bytes, streamed in chunks: wav (a tone, 24 kHz 16-bit mono),
//                                  pcm (the same samples, raw) and mp3 (silent MPEG-1 Layer III
//                                  frames). opus, aac and flac are not encoded here: they are
//                                  answered with the raw samples under their content type, which
//                                  is enough to prove they are passed on, not to play them.
// Every request is recorded (fields, file bytes, JSON body, bytes sent, whether it completed);
// `failNext` makes the next calls answer an error, `slow` spaces out the audio chunks.
import { createHash } from 'node:crypto';
import { silentMp3, sinePcm, wavOf } from './audio.ts';
import { openaiError } from './openai-wire.ts';
import { ClientGone, createCtx, presentedKey, type RecordedRequest, type Registry, resolveOptions } from './upstream-core.ts';

export type SpeechRequest = RecordedRequest & {
  /** Transcriptions: the form's text fields (model, language, prompt, response_format…). */
  fields: Record<string, string>;
  /** Transcriptions: the uploaded file. */
  file?: { name: string; type: string; size: number; sha256: string; bytes: Uint8Array };
  /** Speech: audio bytes handed to the socket so far. */
  sentBytes: number;
};

export type FakeSpeechOptions = {
  /** When set, requests without `Authorization: Bearer <apiKey>` answer 401. */
  apiKey?: string;
  /** Bytes per chunk of synthesised audio (default 4096). */
  chunkBytes?: number;
};

export interface FakeSpeech {
  /** e.g. `http://127.0.0.1:41234/v1`: SPEECH_BASE_URL. */
  readonly baseUrl: string;
  readonly requests: SpeechRequest[];
  /** The transcript the fake gives for exactly these bytes. */
  script(bytes: Uint8Array, text: string): void;
  /** The next `count` requests (to `only` that route, else to either) answer `status` in OpenAI's error shape. */
  failNext(count: number, status: number, only?: 'transcriptions' | 'speech'): void;
  /**
   * Waits before answering a transcription (`transcribeDelayMs`), before answering a speech
   * request at all (`answerDelayMs`: no status, no header) and before each chunk of its audio
   * after the first (`chunkDelayMs`).
   */
  slow(delays: { chunkDelayMs?: number; transcribeDelayMs?: number; answerDelayMs?: number }): void;
  reset(): void;
  stop(): Promise<void>;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** What the fake hears in a file nobody scripted. */
export const fakeTranscript = (bytes: Uint8Array) => `fake transcript ${sha256(bytes).slice(0, 12)}`;

/** Seconds of audio in a PCM WAV, from its header; undefined for anything else. */
export function wavSeconds(bytes: Uint8Array): number | undefined {
  const ascii = (offset: number, length: number) => String.fromCharCode(...bytes.subarray(offset, offset + length));
  if (bytes.byteLength < 44 || ascii(0, 4) !== 'RIFF' || ascii(8, 4) !== 'WAVE') return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let byteRate: number | undefined;
  for (let offset = 12; offset + 8 <= bytes.byteLength; ) {
    const id = ascii(offset, 4);
    const size = view.getUint32(offset + 4, true);
    if (id === 'fmt ') byteRate = view.getUint32(offset + 16, true);
    if (id === 'data' && byteRate) return Math.min(size, bytes.byteLength - offset - 8) / byteRate;
    offset += 8 + size + (size % 2);
  }
  return undefined;
}

const speechTypes = {
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  pcm: 'audio/pcm',
  opus: 'audio/opus',
  aac: 'audio/aac',
  flac: 'audio/flac',
} as const;
export type FakeSpeechFormat = keyof typeof speechTypes;
const isFormat = (format: unknown): format is FakeSpeechFormat => typeof format === 'string' && format in speechTypes;

/** The audio the fake speaks for `input`: 40 ms a character, between 0.2 and 5 s (opus, aac, flac: raw samples, see above). */
export function fakeSpeech(input: string, format: FakeSpeechFormat): Uint8Array {
  const seconds = Math.min(5, Math.max(0.2, input.length * 0.04));
  if (format === 'mp3') return silentMp3(Math.ceil(seconds / 0.026));
  const pcm = sinePcm(seconds);
  return format === 'wav' ? wavOf(pcm) : pcm;
}

export async function startFakeSpeech(options: FakeSpeechOptions = {}): Promise<FakeSpeech> {
  const opts = resolveOptions();
  const reg: Registry = { timers: new Set(), lives: new Set(), seq: 0 };
  const requests: SpeechRequest[] = [];
  const scripts = new Map<string, string>();
  const failures: { status: number; only?: 'transcriptions' | 'speech' }[] = [];
  const still = { chunkDelayMs: 0, transcribeDelayMs: 0, answerDelayMs: 0 };
  const delays = { ...still };
  const chunkBytes = options.chunkBytes ?? 4096;

  async function transcriptions(req: Request, record: SpeechRequest): Promise<Response> {
    let form: Awaited<ReturnType<Request['formData']>>;
    try {
      form = await req.formData();
    } catch {
      return openaiError(400, 'Expected a multipart/form-data body (fake speech server).');
    }
    for (const [name, value] of form.entries()) {
      if (typeof value === 'string') record.fields[name] = value;
      else {
        const bytes = new Uint8Array(await value.arrayBuffer());
        record.file = { name: value.name, type: value.type, size: bytes.byteLength, sha256: sha256(bytes), bytes };
      }
    }
    if (!record.file) return openaiError(400, "Missing required parameter: 'file'.");
    if (!record.fields.model) return openaiError(400, "Missing required parameter: 'model'.");
    const format = record.fields.response_format ?? 'json';
    if (!['json', 'verbose_json', 'text'].includes(format))
      return openaiError(400, `response_format ${format} is not supported by the fake`);
    const ctx = createCtx(req, record.fields, record, opts, reg);
    try {
      if (delays.transcribeDelayMs > 0) await ctx.sleep(delays.transcribeDelayMs);
    } finally {
      ctx.finish();
    }
    const text = scripts.get(record.file.sha256) ?? fakeTranscript(record.file.bytes);
    if (format === 'text') return new Response(`${text}\n`, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
    if (format === 'json') return Response.json({ text });
    return Response.json({
      task: 'transcribe',
      language: record.fields.language ?? 'english',
      duration: wavSeconds(record.file.bytes) ?? 0,
      text,
      segments: [],
    });
  }

  async function speech(req: Request, record: SpeechRequest): Promise<Response> {
    let body: unknown;
    try {
      body = await req.json();
    } catch {
      return openaiError(400, 'Expected a JSON body (fake speech server).');
    }
    record.body = body;
    const { model, input, voice, response_format: format = 'mp3' } = (body ?? {}) as Record<string, unknown>;
    if (typeof model !== 'string' || typeof input !== 'string' || !input || typeof voice !== 'string') {
      return openaiError(400, "Missing required parameters: 'model', 'input' and 'voice'.");
    }
    if (!isFormat(format)) return openaiError(400, `response_format ${String(format)} is not one of OpenAI's`);
    const audio = fakeSpeech(input, format);
    const ctx = createCtx(req, body, record, opts, reg);
    if (delays.answerDelayMs > 0) await ctx.sleep(delays.answerDelayMs);
    let offset = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          if (offset > 0 && delays.chunkDelayMs > 0) await ctx.sleep(delays.chunkDelayMs);
        } catch (error) {
          if (!(error instanceof ClientGone)) throw error;
          controller.close();
          return;
        }
        const chunk = audio.subarray(offset, offset + chunkBytes);
        offset += chunk.byteLength;
        record.sentBytes += chunk.byteLength;
        controller.enqueue(chunk);
        if (offset >= audio.byteLength) {
          controller.close();
          ctx.finish();
        }
      },
    });
    return new Response(stream, { headers: { 'content-type': speechTypes[format], 'x-request-id': ctx.nextId('req_') } });
  }

  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const record: SpeechRequest = {
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams.entries()),
        headers: Object.fromEntries(req.headers.entries()),
        body: undefined,
        aborted: false,
        completed: false,
        fields: {},
        sentBytes: 0,
      };
      requests.push(record);
      const route = `${req.method} ${url.pathname}`;
      if (route !== 'POST /v1/audio/transcriptions' && route !== 'POST /v1/audio/speech') {
        return openaiError(404, `No fake route for ${route}`);
      }
      if (options.apiKey !== undefined && presentedKey(record.headers) !== options.apiKey) return openaiError(401);
      const target = route === 'POST /v1/audio/speech' ? 'speech' : 'transcriptions';
      const failure = failures.findIndex((f) => f.only === undefined || f.only === target);
      if (failure !== -1) return openaiError(failures.splice(failure, 1)[0]!.status);
      try {
        return route === 'POST /v1/audio/speech' ? await speech(req, record) : await transcriptions(req, record);
      } catch (error) {
        if (error instanceof ClientGone) return new Response(null, { status: 499 });
        throw error;
      }
    },
    error(error) {
      return openaiError(500, `fake speech server crashed: ${error.message}`);
    },
  });

  return {
    baseUrl: `http://127.0.0.1:${server.port}/v1`,
    requests,
    script: (bytes, text) => void scripts.set(sha256(bytes), text),
    failNext(count, status, only) {
      for (let i = 0; i < count; i++) failures.push({ status, ...(only ? { only } : {}) });
    },
    slow(next) {
      Object.assign(delays, next);
    },
    reset() {
      requests.length = 0;
      failures.length = 0;
      scripts.clear();
      Object.assign(delays, still);
    },
    async stop() {
      for (const life of reg.lives) life.abort();
      reg.lives.clear();
      for (const timer of reg.timers) clearTimeout(timer);
      reg.timers.clear();
      await server.stop(true);
    },
  };
}
