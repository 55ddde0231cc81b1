// Wiring the app to the fake LLM upstream (tests/fakes/llm-upstream.ts) and reading what reached it.
import type { Env } from '../../src/config/index.ts';
import type { FakeUpstream, RecordedRequest } from '../fakes/llm-upstream.ts';
import { testEnv } from './client.ts';

/** Every provider pointed at the fake; rate limits off; an admin key (see tests/helpers/client.ts). */
export function llmEnv(fake: FakeUpstream, extra: Env = {}): Env {
  return {
    ...testEnv,
    OPENAI_API_KEY: 'test',
    OPENAI_BASE_URL: fake.openaiBaseURL,
    ANTHROPIC_API_KEY: 'test',
    ANTHROPIC_BASE_URL: fake.anthropicBaseURL,
    OLLAMA_BASE_URL: fake.ollamaBaseURL,
    OLLAMA_MODELS: 'llama3',
    LLM_RETRY_BASE_MS: '5',
    // The echo provider answers at once; a suite that needs a reply still running sets its own delay.
    ECHO_DELAY_MS: '0',
    ...extra,
  };
}

type WireMessage = { role: string; content: unknown };
export const bodyOf = (request: RecordedRequest) =>
  (request.body ?? {}) as { model?: string; messages?: WireMessage[]; system?: unknown; temperature?: number; max_tokens?: number };
export const textOfContent = (content: unknown): string =>
  typeof content === 'string' ? content : Array.isArray(content) ? content.map((part: { text?: string }) => part.text ?? '').join('') : '';

/** Generation requests (OpenAI, Anthropic or Ollama's /v1) whose last user turn is `text`. */
export function upstreamCalls(fake: FakeUpstream, text: string): RecordedRequest[] {
  return fake.requests.filter((request) => {
    if (request.path !== '/v1/chat/completions' && request.path !== '/v1/messages') return false;
    const last = bodyOf(request)
      .messages?.filter((m) => m.role === 'user')
      .at(-1);
    return last !== undefined && textOfContent(last.content) === text;
  });
}

/** Generation requests (OpenAI or Anthropic wire) the fake got for `model`, the upstream's own name. */
export const modelCalls = (fake: FakeUpstream, model: string): RecordedRequest[] =>
  fake.requests.filter((request) => ['/v1/chat/completions', '/v1/messages'].includes(request.path) && bodyOf(request).model === model);

export const wordCount = (text: string) => text.split(/\s+/).filter(Boolean).length;
