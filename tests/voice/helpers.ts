// Wiring the app to the fake speech server (tests/fakes/speech.ts) and building voice requests.
import type { Env } from '../../src/config/index.ts';
import type { FakeSpeech } from '../fakes/speech.ts';
import { bearer, httpOf, type Json, type Target, testEnv } from '../helpers/client.ts';

/** Speech pointed at the fake; rate limits off; replies from the echo provider at once. */
export function voiceEnv(fake: FakeSpeech, extra: Env = {}): Env {
  return { ...testEnv, SPEECH_BASE_URL: fake.baseUrl, SPEECH_API_KEY: 'speech-key-for-tests', ECHO_DELAY_MS: '0', ...extra };
}

/** A multipart form with `audio` (under `filename`, claiming `type`) and text fields. */
export function audioForm(bytes: Uint8Array, fields: Record<string, string> = {}, file: { name?: string; type?: string } = {}) {
  const form = new FormData();
  form.set('audio', new File([bytes], file.name ?? 'recording.wav', { type: file.type ?? 'audio/wav' }));
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  return form;
}

/** POSTs `form` to /api/v1/voice/<route> as `token`. */
export const postForm = (
  target: Target,
  token: string,
  route: 'transcribe' | 'process',
  form: FormData,
  headers: Record<string, string> = {},
) => httpOf(target)(`/api/v1/voice/${route}`, { method: 'POST', headers: { ...bearer(token), ...headers }, body: form });

/** POSTs JSON to /api/v1/voice/synthesize as `token`. */
export const synthesize = (target: Target, token: string, body: Record<string, unknown>) =>
  httpOf(target)('/api/v1/voice/synthesize', { method: 'POST', headers: bearer(token), json: body });

/** The voice usage of the caller over `days` (must be 200). */
export async function voiceUsage(target: Target, token: string, days?: number): Promise<Json> {
  const response = await httpOf(target)(`/api/v1/voice/usage${days ? `?days=${days}` : ''}`, { headers: bearer(token) });
  if (response.status !== 200) throw new Error(`usage: ${response.status} ${await response.text()}`);
  return response.json();
}
