// The one test client. Every suite talks to Parley through it, whether the app runs in process
// (TestApp) or as an executable at a URL. The typed verbs go through Eden treaty over the app's
// exported `App` type, so a renamed or retyped field in a route's schema is a `bun run typecheck`
// error here and in every test that reads the result. Raw `Http` stays for what a typed client
// cannot express: bad bodies, missing credentials, SSE streams.
import { expect } from 'bun:test';
import { treaty } from '@elysiajs/eden';
import type { App } from '../../src/app.ts';
import type { Env } from '../../src/config/index.ts';
import type { TestApp } from './app.ts';
import { compareEventIds, readSse, type SseTranscript } from './sse.ts';

export { waitUntil } from './wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw bodies (errors, bad input) are inspected field by field
export type Json = any;

/** One request: a path under the server, with an optional JSON body. */
export type Http = (path: string, init?: RequestInit & { json?: unknown }) => Promise<Response>;

/** Where requests go: the app in process, or any `Http` (see `httpOfUrl`). */
export type Target = TestApp | Http;

export const httpOf = (target: Target): Http => (typeof target === 'function' ? target : (path, init) => target.request(path, init));

/** An `Http` to a running server (the executable), with the same `json` shorthand as TestApp.request. */
export function httpOfUrl(base: string): Http {
  return (path, init = {}) => {
    const { json, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (json !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
    return fetch(`${base}${path}`, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body });
  };
}

const treaties = new WeakMap<object, ReturnType<typeof treaty<App>>>();

/**
 * The typed client (Eden treaty) for a target: `api(app).api.v1.chats.post(body, { headers })`
 * resolves to `{ data, error, status }` with `data` typed by the route's response schema. Dates
 * stay ISO strings, as on the wire.
 */
export function api(target: Target) {
  const http = httpOf(target);
  const key = typeof target === 'function' ? target : target.app;
  let client = treaties.get(key);
  if (!client) {
    const fetcher = (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      return http(url.pathname + url.search, init);
    };
    client = treaty<App>('http://parley.test', { fetcher: fetcher as typeof fetch, parseDate: false });
    treaties.set(key, client);
  }
  return client;
}

/** A treaty result's data, or an error naming the status and body when it is not `status`. */
export function expectData<T>(result: { data: T | null; error: unknown; status: number }, status: number, what: string): NonNullable<T> {
  if (result.status !== status || result.data === null || result.data === undefined) {
    const error = result.error as { value?: unknown } | null;
    throw new Error(`${what}: expected ${status}, got ${result.status} ${JSON.stringify(error?.value ?? null)}`);
  }
  return result.data as NonNullable<T>;
}

export const adminKey = 'admin-key-for-tests-0123456789';

/** The env most suites want: rate limits off (in-process requests share one IP) and an admin key. */
export const testEnv: Env = { RATE_LIMIT_ENABLED: 'false', ADMIN_API_KEY: adminKey };

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const asAdmin = { 'x-admin-key': adminKey };
export const readJson = (response: Response): Promise<Json> => response.json();

/**
 * bun 1.4.5's toMatchObject writes its asymmetric matchers (expect.any(...)) into the object it
 * checks; assert on a copy when the object is used afterwards.
 */
export const copy = <T>(value: T): T => structuredClone(value);

let counter = 0;
const unique = () => {
  counter += 1;
  return `${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
};

export const uniqueEmail = (label = 'user'): string => `${label}-${unique()}@example.com`;

/** Text no other test sends, so upstream requests can be told apart by their last user turn. */
export const uniqueText = (label = 'hello'): string => `${label} ${unique()} there`;

/** `count` words no other test sends; the echo provider replies with them one by one. */
export function uniqueWords(count: number, label = 'word'): string {
  const tag = unique().replaceAll('-', '');
  return Array.from({ length: count }, (_, i) => `${label}${i}-${tag}`).join(' ');
}

type Session = NonNullable<Awaited<ReturnType<ReturnType<typeof api>['api']['v1']['auth']['login']['post']>>['data']>;
export type Tokens = { userId: string; accessToken: string; refreshToken: string; user: Session['user'] };
export type Account = Tokens & { email: string; password: string };

const toTokens = (body: Session): Tokens => ({
  userId: body.user.id,
  accessToken: body.accessToken,
  refreshToken: body.refreshToken,
  user: body.user,
});

/** Registers a new account (random email and password unless given) and returns its tokens. */
export async function register(
  target: Target,
  options: { email?: string; password?: string; name?: string; headers?: Record<string, string> } = {},
): Promise<Account> {
  const email = options.email ?? uniqueEmail();
  const password = options.password ?? `pw-${Math.random().toString(36).slice(2)}-long`;
  const body = { email, password, ...(options.name ? { name: options.name } : {}) };
  const result = await api(target).api.v1.auth.register.post(body, { headers: options.headers });
  return { ...toTokens(expectData(result, 201, 'register')), email, password };
}

export async function login(target: Target, email: string, password: string, headers?: Record<string, string>): Promise<Tokens> {
  return toTokens(expectData(await api(target).api.v1.auth.login.post({ email, password }, { headers }), 200, 'login'));
}

export async function guest(target: Target): Promise<Tokens> {
  return toTokens(expectData(await api(target).api.v1.auth.guest.post(), 201, 'guest'));
}

/** What POST /auth/api-keys takes: a name, and optionally an expiry and the key's limits. */
export type ApiKeyCreate = {
  name: string;
  expiresAt?: string;
  allowedModels?: string[] | null;
  requestsPerMinute?: number | null;
  tokensPerMinute?: number | null;
  monthlyTokenBudget?: number | null;
};

export async function createApiKey(target: Target, accessToken: string, body: ApiKeyCreate = { name: 'test key' }) {
  return expectData(await api(target).api.v1.auth['api-keys'].post(body, { headers: bearer(accessToken) }), 201, 'api key');
}

/** GET /auth/me with a credential: the status, for "is this token still accepted?" checks. */
export async function meStatus(target: Target, credential: string): Promise<number> {
  const response = await httpOf(target)('/api/v1/auth/me', { headers: bearer(credential) });
  await response.arrayBuffer();
  return response.status;
}

type AdminUserPatch = Parameters<ReturnType<ReturnType<typeof api>['api']['v1']['admin']['users']>['patch']>[0];
export async function adminPatchUser(target: Target, userId: string, body: AdminUserPatch) {
  return expectData(await api(target).api.v1.admin.users({ id: userId }).patch(body, { headers: asAdmin }), 200, 'admin patch');
}

type ChatCreate = Parameters<ReturnType<typeof api>['api']['v1']['chats']['post']>[0];
export async function createChat(target: Target, token: string, body: ChatCreate = {}) {
  return expectData(await api(target).api.v1.chats.post(body, { headers: bearer(token) }), 201, 'create chat');
}

/** GET /chats/:id as its owner, or anonymously (`token` null: a featured chat). */
export async function getChat(target: Target, token: string | null, chatId: string) {
  return expectData(
    await api(target)
      .api.v1.chats({ id: chatId })
      .get({ headers: token ? bearer(token) : {} }),
    200,
    'get chat',
  );
}

/** POST /chats/:id/messages, raw: the answer is SSE unless `stream: false`. */
export const sendMessage = (target: Target, token: string, chatId: string, body: Record<string, unknown>) =>
  httpOf(target)(`/api/v1/chats/${chatId}/messages`, { method: 'POST', headers: bearer(token), json: body });

/** The chat's message with that id, read back through GET /chats/:id. */
export async function storedMessage(target: Target, token: string | null, chatId: string, messageId: string) {
  const message = (await getChat(target, token, chatId)).messages.find((m) => m.id === messageId);
  if (!message) throw new Error(`message ${messageId} is not in chat ${chatId}`);
  return message;
}

/** Asserts the contract's error body `{error: {code, message}}` with the given status and code. */
export async function expectError(response: Response, status: number, code: string): Promise<Json> {
  const text = await response.text();
  expect(`${response.status} ${text}`).toStartWith(`${status} `);
  const body = JSON.parse(text);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  return body;
}

/** The body of a response that must have `status` (and error `code`, when given); throws with the body otherwise. */
export async function expectStatus(response: Response, status: number, code?: string): Promise<Json> {
  const text = await response.text();
  if (response.status !== status) throw new Error(`expected ${status}${code ? ` ${code}` : ''}, got ${response.status} ${text}`);
  const body = text ? JSON.parse(text) : undefined;
  if (code !== undefined && body?.error?.code !== code) throw new Error(`expected error code ${code}, got ${text}`);
  return body;
}

export function expectIncreasing(ids: string[]): void {
  for (let i = 1; i < ids.length; i++) {
    if (compareEventIds(ids[i - 1]!, ids[i]!) >= 0) throw new Error(`event ids do not increase at ${i}: ${ids.join(', ')}`);
  }
}

export type StreamedReply = SseTranscript & { response: Response; start?: Json; done?: Json; error?: Json };

/** Sends a message and reads the whole SSE answer. */
export async function streamMessage(target: Target, token: string, chatId: string, body: Record<string, unknown>): Promise<StreamedReply> {
  const response = await sendMessage(target, token, chatId, body);
  if (response.status !== 200) throw new Error(`send failed: ${response.status} ${await response.text()}`);
  return withNamedEvents(response, await readSse(response));
}

/** A transcript with its start, done and error events picked out. */
export function withNamedEvents(response: Response, transcript: SseTranscript): StreamedReply {
  const find = (name: string) => transcript.events.find((e) => e.event === name)?.data;
  return { ...transcript, response, start: find('start'), done: find('done'), error: find('error') };
}

/** Sends with stream:false and returns {userMessage, assistantMessage}. */
export async function sendJson(target: Target, token: string, chatId: string, body: Record<string, unknown>): Promise<Json> {
  return expectStatus(await sendMessage(target, token, chatId, { ...body, stream: false }), 200);
}

/** POST /chat (a stateless reply, stream:false) with `message`: one LLM call against the caller's limits. */
export const statelessChat = (target: Target, token: string, message = 'count me') =>
  httpOf(target)('/api/v1/chat', { method: 'POST', headers: bearer(token), json: { message } });

/** GET /rate-limit as the caller: the limits in force and what is left (must be 200). */
export async function rateLimit(target: Target, token: string): Promise<Json> {
  return expectStatus(await httpOf(target)('/api/v1/rate-limit', { headers: bearer(token) }), 200);
}
