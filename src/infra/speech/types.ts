// One door to speech: transcription (speech → text) and synthesis (text → speech) on any
// OpenAI-compatible speech server. Failures are UpstreamError, as for the LLM providers, so the
// modules map both to the contract the same way (502 `upstream_error`).

export { UpstreamError } from '../llm/types.ts';

/** The audio formats a speech server can synthesise (OpenAI's `response_format`). */
export const synthesisFormats = ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm'] as const;
export type SynthesisFormat = (typeof synthesisFormats)[number];

/** What each format is sent as when the server does not say (pcm: 24 kHz 16-bit little-endian mono, as OpenAI's). */
export const synthesisContentTypes: Record<SynthesisFormat, string> = {
  mp3: 'audio/mpeg',
  opus: 'audio/ogg',
  aac: 'audio/aac',
  flac: 'audio/flac',
  wav: 'audio/wav',
  pcm: 'audio/pcm',
};

export type TranscribeRequest = {
  /** The audio file's bytes, whole (uploads are bounded by MAX_FILE_SIZE before they get here). */
  audio: Blob | Uint8Array;
  /** Sent as the multipart file name: OpenAI tells the format by its extension (`audio.wav`). */
  filename: string;
  contentType: string;
  /** ISO-639-1 code of the spoken language; absent, the server detects it. */
  language?: string;
  /** Text that guides the model's style or spelling (names, jargon). */
  prompt?: string;
  /** Aborting it stops the upstream request (the client left, a timeout). */
  signal: AbortSignal;
};

export type Transcription = {
  text: string;
  /** The language the server heard, as it names it (`english`, `en`), when it says. */
  language?: string;
  /** Seconds of audio, as the server measured it, when it says. */
  durationSeconds?: number;
};

export type SynthesizeRequest = {
  /** 1 to 4096 characters. */
  text: string;
  voice: string;
  format: SynthesisFormat;
  /** 0.25 to 4; 1 is normal speed. */
  speed: number;
  /** Aborting it stops the upstream request and its body (the client left, a timeout). */
  signal: AbortSignal;
};

export type SynthesizedAudio = {
  /** The server's audio/* type, else the format's usual one (synthesisContentTypes). */
  contentType: string;
  /** The audio as the server sends it, chunk by chunk: nothing is buffered. */
  body: ReadableStream<Uint8Array>;
};

export type SpeechClient = {
  /** Where requests go (for health output and logs; never with its key). */
  readonly baseUrl: string;
  /** Throws UpstreamError when the server fails, cannot be reached or does not answer in time. */
  transcribe(request: TranscribeRequest): Promise<Transcription>;
  /**
   * Resolves once the server has answered with audio (its body still arriving); throws
   * UpstreamError when it answers an error, cannot be reached or does not answer in time.
   */
  synthesize(request: SynthesizeRequest): Promise<SynthesizedAudio>;
};
