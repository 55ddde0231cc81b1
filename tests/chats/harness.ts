// Shared setup for the chats and models suites: an app wired to the fake LLM upstream, and small
// HTTP helpers for chats and their replies. Everything goes through the app's HTTP surface.
import { expect } from 'bun:test';
import type { Env } from '../../src/config/index.ts';
import { bearer, readJson, testEnv } from '../auth/client.ts';
import type { FakeUpstream, RecordedRequest } from '../fakes/llm-upstream.ts';
import type { TestApp } from '../helpers/app.ts';
import { storageKinds } from '../helpers/app.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';
import { readSse, type SseEvent, type SseTranscript } from '../helpers/sse.ts';

export { waitUntil } from '../helpers/wait.ts';

export const kinds = storageKinds({ postgres: hasPostgres, redis: hasRedis });

/** Every provider pointed at the fake; rate limits off; an admin key (see tests/auth/client.ts). */
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
    ...extra,
  };
}

let counter = 0;
/** Text no other test sends, so upstream requests can be told apart by their last user turn. */
export function uniqueText(label = 'hello'): string {
  counter += 1;
  return `${label} ${Date.now().toString(36)}x${counter}x${Math.random().toString(36).slice(2, 7)} there`;
}

export async function createChat(app: TestApp, token: string, body: Record<string, unknown> = {}) {
  const response = await app.request('/api/v1/chats', { method: 'POST', headers: bearer(token), json: body });
  if (response.status !== 201) throw new Error(`create chat failed: ${response.status} ${await response.text()}`);
  return readJson(response);
}

export async function getChat(app: TestApp, token: string | null, chatId: string) {
  const response = await app.request(`/api/v1/chats/${chatId}`, { headers: token ? bearer(token) : {} });
  expect(response.status).toBe(200);
  return readJson(response);
}

export const sendMessage = (app: TestApp, token: string, chatId: string, body: Record<string, unknown>) =>
  app.request(`/api/v1/chats/${chatId}/messages`, { method: 'POST', headers: bearer(token), json: body });

export type StreamedReply = SseTranscript & { response: Response; start?: SseData; done?: SseData; error?: SseData };
type SseData = SseEvent['data'];

/** Sends a message and reads the whole SSE answer. */
export async function streamMessage(app: TestApp, token: string, chatId: string, body: Record<string, unknown>): Promise<StreamedReply> {
  const response = await sendMessage(app, token, chatId, body);
  if (response.status !== 200) throw new Error(`send failed: ${response.status} ${await response.text()}`);
  return withNamedEvents(response, await readSse(response));
}

export function withNamedEvents(response: Response, transcript: SseTranscript): StreamedReply {
  const find = (name: string) => transcript.events.find((e) => e.event === name)?.data;
  return { ...transcript, response, start: find('start'), done: find('done'), error: find('error') };
}

/** Sends with stream:false and returns {userMessage, assistantMessage}. */
export async function sendJson(app: TestApp, token: string, chatId: string, body: Record<string, unknown>) {
  const response = await sendMessage(app, token, chatId, { ...body, stream: false });
  if (response.status !== 200) throw new Error(`send failed: ${response.status} ${await response.text()}`);
  return readJson(response);
}

/** The chat's message with that id, read back through GET /chats/:id. */
export async function storedMessage(app: TestApp, token: string, chatId: string, messageId: string) {
  const chat = await getChat(app, token, chatId);
  const message = chat.messages.find((m: { id: string }) => m.id === messageId);
  if (!message) throw new Error(`message ${messageId} is not in chat ${chatId}`);
  return message;
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

export const wordCount = (text: string) => text.split(/\s+/).filter(Boolean).length;
