// What an uploaded audio file really is, read from its bytes (never from the name or type the
// client gave it): its container by file-type, its duration by music-metadata.

import { fileTypeFromBuffer } from 'file-type';
import { parseBuffer } from 'music-metadata';
import { AppError, invalid } from '../../http/errors.ts';

/**
 * The containers a speech server takes (OpenAI's list: flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav,
 * webm), by file-type's extension: the extension and type the file is sent upstream with
 * (OpenAI tells the format by the file name's extension).
 */
const accepted: Record<string, { ext: string; type: string }> = {
  mp3: { ext: 'mp3', type: 'audio/mpeg' },
  mp2: { ext: 'mpga', type: 'audio/mpeg' },
  mpg: { ext: 'mpeg', type: 'video/mpeg' },
  wav: { ext: 'wav', type: 'audio/wav' },
  ogg: { ext: 'ogg', type: 'audio/ogg' },
  oga: { ext: 'ogg', type: 'audio/ogg' },
  opus: { ext: 'ogg', type: 'audio/ogg' },
  webm: { ext: 'webm', type: 'audio/webm' },
  m4a: { ext: 'm4a', type: 'audio/mp4' },
  mp4: { ext: 'mp4', type: 'audio/mp4' },
  flac: { ext: 'flac', type: 'audio/flac' },
};

/** For messages and the OpenAPI document. */
export const acceptedAudioFormats = 'mp3, mpga, mpeg, wav, ogg/opus, webm, m4a/mp4, flac';

export type InspectedAudio = {
  bytes: Uint8Array;
  /** `audio.<ext>`, the extension the speech server reads the format from. */
  filename: string;
  contentType: string;
  /**
   * Seconds of audio, as the file states it. Null only for WebM, whose browser recordings
   * (MediaRecorder) do not write it: those are bounded by their size alone.
   */
  durationSeconds: number | null;
};

export type AudioLimits = { maxBytes: number; maxSeconds: number };

const field = 'body.audio';

/**
 * Checks an upload and says what it is. Throws 413 `payload_too_large` over `maxBytes`
 * (MAX_FILE_SIZE) or `maxSeconds` (MAX_AUDIO_SECONDS), 415 `unsupported_media_type` when its
 * content is not one of the accepted containers, 422 `validation_error` (on `body.audio`) when it
 * is empty, holds no audio, or cannot be read.
 */
export async function inspectAudio(file: Blob, limits: AudioLimits): Promise<InspectedAudio> {
  if (file.size > limits.maxBytes) {
    throw new AppError('payload_too_large', `The audio is ${file.size} bytes; at most ${limits.maxBytes} are accepted (MAX_FILE_SIZE)`);
  }
  if (file.size === 0) throw invalid(field, 'is empty', 'The audio file is empty');
  const bytes = new Uint8Array(await file.arrayBuffer());
  const detected = await fileTypeFromBuffer(bytes).catch(() => undefined);
  const format = detected && accepted[detected.ext];
  if (!detected || !format) {
    const what = detected ? `${detected.mime} content` : 'content of no known audio format';
    throw new AppError('unsupported_media_type', `The audio must be ${acceptedAudioFormats}; this file holds ${what}`);
  }
  const unreadable = (why: string) => invalid(field, why, `The audio could not be read: ${why}`);
  let meta: Awaited<ReturnType<typeof parseBuffer>>;
  try {
    meta = await parseBuffer(bytes, { mimeType: detected.mime, size: bytes.byteLength }, { duration: true, skipCovers: true });
  } catch {
    throw unreadable(`is not a readable ${format.ext} file`);
  }
  if (meta.format.hasAudio === false) throw unreadable('holds no audio track');
  const duration = meta.format.duration;
  const known = typeof duration === 'number' && Number.isFinite(duration) && duration >= 0;
  if (!known && format.ext !== 'webm') throw unreadable(`its duration cannot be read from this ${format.ext} file`);
  if (known && duration > limits.maxSeconds) {
    throw new AppError(
      'payload_too_large',
      `The audio lasts ${duration.toFixed(1)} s; at most ${limits.maxSeconds} s are transcribed (MAX_AUDIO_SECONDS)`,
    );
  }
  return { bytes, filename: `audio.${format.ext}`, contentType: format.type, durationSeconds: known ? duration : null };
}
