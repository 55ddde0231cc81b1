import { Elysia } from 'elysia';
import { mayFail } from '../../http/docs.ts';
import type { RouteBundle } from '../../http/routes.ts';
import { synthesisContentTypes, synthesisFormats } from '../../infra/speech/types.ts';
import { ProcessBody, ProcessResult, SynthesizeBody, TranscribeBody, TranscriptView, UsageQuery, VoiceList, VoiceUsage } from './model.ts';
import type { VoiceService } from './service.ts';

const tags = ['Voice'];
const prefix = '/api/v1/voice';

/** Bytes a voice upload's form may hold beyond its file: the other fields and the multipart framing. */
const formOverheadBytes = 64 * 1024;

/**
 * The routes that take a multipart upload, with the most bytes each body may hold, for the
 * request guard (everything else must be JSON): the file's MAX_FILE_SIZE and its form around it.
 */
export const voiceUploads = (maxFileSize: number): [string, number][] => [
  [`${prefix}/transcribe`, maxFileSize + formOverheadBytes],
  [`${prefix}/process`, maxFileSize + formOverheadBytes],
];

const unconfigured = 'Without a speech server (SPEECH_BASE_URL, or OPENAI_API_KEY) every voice route answers 503 `unavailable`.';
const counted = 'Counts as one LLM call against the caller’s limits, and is recorded in GET /voice/usage.';

const audioResponses = {
  200: {
    description: 'The speech, streamed as the speech server sends it',
    content: Object.fromEntries(
      synthesisFormats.map((format) => [synthesisContentTypes[format], { schema: { type: 'string', format: 'binary' } }]),
    ),
  },
} as never;

const processResponses = {
  200: {
    description:
      'JSON once the reply is spoken; with `Accept: text/event-stream`, SSE: `transcript` {text, language?, durationSeconds}, ' +
      'the reply’s `start`, `delta`… (and `reasoning`), then `audio` {format, contentType, audio (base64)} and `done` ' +
      '{messageId, finishReason, usage}, or `error` {code, message}. The reply alone can be resumed at GET /streams/:streamId ' +
      '(`start` names it); this stream cannot.',
    content: { 'application/json': { schema: ProcessResult }, 'text/event-stream': { schema: { type: 'string' } } },
  },
} as never;

/** SSE when the client asks for it (and not for JSON first). */
const wantsEventStream = (request: Request) => /\btext\/event-stream\b/i.test(request.headers.get('accept') ?? '');

export function voiceModule({ voice, routes }: { voice: VoiceService; routes: RouteBundle }) {
  return new Elysia({ name: 'voice', prefix })
    .use(routes.api())
    .post('/transcribe', ({ caller, ip, body, request }) => voice.transcribe(caller, ip, body, request.signal), {
      auth: true,
      body: TranscribeBody,
      response: { 200: TranscriptView },
      detail: {
        tags,
        summary: 'Speech to text: a recording (multipart `audio`) transcribed by the speech server',
        description: `The audio is checked by its content: its format (415), size (413), duration (413) and readability (422). ${counted} ${unconfigured}`,
        ...mayFail('upstream_error'),
      },
    })
    .post(
      '/synthesize',
      async ({ caller, ip, body, request }) => {
        const audio = await voice.synthesize(caller, ip, body, request.signal);
        return new Response(audio.body, {
          headers: {
            'content-type': audio.contentType,
            'content-disposition': `inline; filename="speech.${body.format ?? 'mp3'}"`,
            'cache-control': 'no-store',
          },
        });
      },
      {
        auth: true,
        body: SynthesizeBody,
        detail: {
          tags,
          summary: 'Text to speech: the audio bytes, streamed as they arrive from the speech server',
          description: `\`voice\` is one of GET /voice/voices; \`format\` mp3 (default), opus, aac, flac, wav or pcm. ${counted} ${unconfigured}`,
          responses: audioResponses,
          ...mayFail('upstream_error'),
        },
      },
    )
    .post(
      '/process',
      ({ caller, ip, body, request }) => voice.process(caller, ip, body, { stream: wantsEventStream(request), signal: request.signal }),
      {
        auth: true,
        idempotent: true,
        body: ProcessBody,
        detail: {
          tags,
          summary: 'A spoken turn: speech → text → a reply (in `chatId`, or stored nowhere) → speech',
          description:
            'The transcript is the user message; the reply goes through the reply engine like any other (stored in the chat when ' +
            '`chatId` is given: owner only, 404 otherwise) and its first 4096 characters are spoken. Counts as two LLM calls: the ' +
            `speech, and the reply. An Idempotency-Key repeat gets the first JSON answer; an SSE answer is not kept (a repeat runs ` +
            `again), but its reply can be followed at GET /streams/:streamId. ${unconfigured}`,
          responses: processResponses,
          ...mayFail('not_found', 'upstream_error'),
        },
      },
    )
    .get('/voices', () => voice.voices(), {
      auth: true,
      response: { 200: VoiceList },
      detail: { tags, summary: 'The voices synthesis offers (SPEECH_VOICES)', description: unconfigured },
    })
    .get('/usage', ({ caller, query }) => voice.usage(caller.user.id, query.days ?? 30), {
      auth: true,
      query: UsageQuery,
      response: { 200: VoiceUsage },
      detail: {
        tags,
        summary: 'Transcriptions (and seconds heard) and syntheses (and characters spoken) over the last `days` days, by day',
        description: 'Answers with or without a speech server: it reads what was recorded.',
      },
    });
}
