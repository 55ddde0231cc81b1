import { t } from 'elysia';
import { Provider } from '../../http/vocabulary.ts';
import { synthesisFormats } from '../../infra/speech/types.ts';

export { UsageQuery } from '../users/model.ts';

/** Longest text one synthesis speaks (OpenAI's limit for `input`). */
export const maxSynthesisChars = 4096;

const audioFile = t.File({
  description:
    'The recording: mp3, mpga, mpeg, wav, ogg/opus, webm, m4a/mp4 or flac, told by its content (not its name or type); ' +
    'at most MAX_FILE_SIZE bytes and MAX_AUDIO_SECONDS seconds',
});
const language = t.String({
  pattern: '^[a-z]{2,3}$',
  description: 'ISO-639-1 code of the spoken language (`en`, `fr`…); absent, the speech server detects it',
});

export const SynthesisFormat = t.Union(
  synthesisFormats.map((format) => t.Literal(format)),
  { description: 'Audio format of the speech (default mp3); pcm is 24 kHz 16-bit little-endian mono' },
);
const voice = t.String({ minLength: 1, maxLength: 100, description: 'One of GET /voice/voices (SPEECH_VOICES); default, the first' });

export const TranscribeBody = t.Object(
  {
    audio: audioFile,
    language: t.Optional(language),
    prompt: t.Optional(t.String({ maxLength: 2000, description: 'Text that guides spelling and style (names, jargon)' })),
  },
  { additionalProperties: false },
);

export const TranscriptView = t.Object({
  text: t.String(),
  language: t.Optional(t.String({ description: 'The language the speech server heard, as it names it, when it says' })),
  durationSeconds: t.Union([t.Number(), t.Null()], {
    description: 'Seconds of audio, read from the file (else as the speech server measured it); null when neither says',
  }),
});

export const SynthesizeBody = t.Object(
  {
    text: t.String({ minLength: 1, maxLength: maxSynthesisChars }),
    voice: t.Optional(voice),
    format: t.Optional(SynthesisFormat),
    speed: t.Optional(t.Number({ minimum: 0.25, maximum: 4, description: '1 is normal speed' })),
  },
  { additionalProperties: false },
);

export const ProcessBody = t.Object(
  {
    audio: audioFile,
    chatId: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 100,
        description: 'Reply in this chat (stored there, owner only); absent, a reply stored nowhere',
      }),
    ),
    voice: t.Optional(voice),
    format: t.Optional(SynthesisFormat),
    language: t.Optional(language),
    provider: t.Optional(Provider),
    model: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const ProcessResult = t.Object({
  transcript: t.String({ description: 'What was heard: the user message' }),
  reply: t.String({ description: 'The reply, whole' }),
  audio: t.String({ description: `The reply spoken (its first ${maxSynthesisChars} characters), base64` }),
  format: SynthesisFormat,
  contentType: t.String({ description: 'The media type of `audio`' }),
  chatId: t.Union([t.String(), t.Null()]),
  messageId: t.String({ description: 'The reply’s message id (stored in the chat when `chatId` was given)' }),
  durationSeconds: t.Union([t.Number(), t.Null()], { description: 'Seconds of audio heard' }),
});
export type ProcessResult = typeof ProcessResult.static;

export const VoiceList = t.Object({ data: t.Array(t.Object({ id: t.String(), name: t.String() })) });

const VoiceTotals = t.Object({
  requests: t.Integer({ description: 'Transcriptions and syntheses' }),
  transcriptions: t.Integer(),
  transcribedSeconds: t.Number({ description: 'Seconds of audio transcribed' }),
  syntheses: t.Integer(),
  synthesizedCharacters: t.Integer({ description: 'Characters of text spoken' }),
});
export const VoiceUsage = t.Object({
  from: t.String({ description: 'First day included (YYYY-MM-DD, UTC)' }),
  to: t.String({ description: 'Last day included (YYYY-MM-DD, UTC)' }),
  totals: VoiceTotals,
  byDay: t.Array(t.Composite([t.Object({ day: t.String() }), VoiceTotals]), { description: 'Days with any use, oldest first' }),
});
export type VoiceUsage = typeof VoiceUsage.static;
