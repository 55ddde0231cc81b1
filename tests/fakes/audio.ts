// Real audio bytes for tests and for the fake speech server: WAV (PCM, any length), raw PCM and a
// run of silent MP3 frames, built here; and speech from espeak-ng where it is installed.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** 16-bit little-endian mono samples of a sine at `hz`, `seconds` long, at `sampleRate`. */
export function sinePcm(seconds: number, { sampleRate = 24_000, hz = 440 } = {}): Uint8Array {
  const count = Math.round(seconds * sampleRate);
  const bytes = new Uint8Array(count * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < count; i++) view.setInt16(i * 2, Math.round(Math.sin((2 * Math.PI * hz * i) / sampleRate) * 8000), true);
  return bytes;
}

/** A complete WAV file (RIFF, PCM 16-bit mono) around `pcm`. */
export function wavOf(pcm: Uint8Array, sampleRate = 24_000): Uint8Array {
  const header = new DataView(new ArrayBuffer(44));
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) header.setUint8(offset + i, text.charCodeAt(i));
  };
  ascii(0, 'RIFF');
  header.setUint32(4, 36 + pcm.byteLength, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  header.setUint32(16, 16, true); // fmt chunk size
  header.setUint16(20, 1, true); // PCM
  header.setUint16(22, 1, true); // mono
  header.setUint32(24, sampleRate, true);
  header.setUint32(28, sampleRate * 2, true); // byte rate
  header.setUint16(32, 2, true); // block align
  header.setUint16(34, 16, true); // bits per sample
  ascii(36, 'data');
  header.setUint32(40, pcm.byteLength, true);
  return Buffer.concat([new Uint8Array(header.buffer), pcm]);
}

/** A WAV of a `seconds`-long tone. */
export const sineWav = (seconds: number, sampleRate = 24_000) => wavOf(sinePcm(seconds, { sampleRate }), sampleRate);

/** One MPEG-1 Layer III frame (128 kbit/s, 44.1 kHz, no padding: 417 bytes) that decodes to silence. */
const MP3_FRAME_BYTES = 417;
const silentMp3Frame = (() => {
  const frame = new Uint8Array(MP3_FRAME_BYTES);
  frame.set([0xff, 0xfb, 0x90, 0x64]);
  return frame;
})();

/** `count` silent MP3 frames (each 1152 samples at 44.1 kHz, about 26 ms). */
export function silentMp3(count: number): Uint8Array {
  const bytes = new Uint8Array(count * MP3_FRAME_BYTES);
  for (let i = 0; i < count; i++) bytes.set(silentMp3Frame, i * MP3_FRAME_BYTES);
  return bytes;
}

/** Whether espeak-ng is installed (CI installs it; see .ci/run). */
export const hasEspeak = Bun.which('espeak-ng') !== null;

/**
 * `text` spoken by espeak-ng as a WAV file, or, without espeak-ng, a generated tone as long as
 * the words would take (the bytes are real audio either way; only what they say differs).
 */
export function spokenWav(text: string): { bytes: Uint8Array; spoken: boolean } {
  if (!hasEspeak) return { bytes: sineWav(Math.max(0.5, text.split(/\s+/).length * 0.4)), spoken: false };
  // To a file, not stdout: espeak-ng writes an unknown length into the header of a WAV it streams.
  const dir = mkdtempSync(join(tmpdir(), 'parley-espeak-'));
  try {
    const file = join(dir, 'speech.wav');
    const result = Bun.spawnSync(['espeak-ng', '-w', file, text], { stdout: 'ignore', stderr: 'pipe' });
    if (result.exitCode !== 0) throw new Error(`espeak-ng failed: ${result.stderr.toString()}`);
    return { bytes: new Uint8Array(readFileSync(file)), spoken: true };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
