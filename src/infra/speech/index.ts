// The speech server, chosen once at boot: SPEECH_BASE_URL, else OpenAI's when OPENAI_API_KEY is
// set, else none (voice routes then answer 503 naming what to set).

import type { Config } from '../../config/index.ts';
import { createOpenAiSpeech } from './openai.ts';
import type { SpeechClient } from './types.ts';

export { createOpenAiSpeech, type OpenAiSpeechOptions } from './openai.ts';
export * from './types.ts';

/** The configured speech server's client, or null when config.speech is null. */
export function openSpeech(config: Pick<Config, 'speech' | 'llm'>): SpeechClient | null {
  if (!config.speech) return null;
  return createOpenAiSpeech({
    baseUrl: config.speech.baseUrl,
    apiKey: config.speech.apiKey,
    transcribeModel: config.speech.transcribeModel,
    synthesizeModel: config.speech.synthesizeModel,
    // The LLM clocks bound speech too: its answer begins within the first-token timeout, and
    // the whole call (audio included) ends within the total one.
    answerTimeoutMs: config.llm.firstTokenTimeoutMs,
    totalTimeoutMs: config.llm.totalTimeoutMs,
  });
}
