// Clients for the realtime suites: an SSE reader that can stop midway (a client that leaves), a
// websocket client that records every frame, and small HTTP helpers that work the same against the
// app in process (TestApp.request) and against a running executable (fetch to its URL).
import type { TestApp } from '../helpers/app.ts';
import { compareEventIds, SseReader as SharedSseReader } from '../helpers/sse.ts';
import { waitUntil as pollUntil } from '../helpers/wait.ts';

export { compareEventIds, deltaText, type SseEvent } from '../helpers/sse.ts';

// biome-ignore lint: payloads are inspected field by field
export type Json = any;

/** One request: a path under the server, with an optional JSON body. */
export type Http = (path: string, init?: RequestInit & { json?: unknown }) => Promise<Response>;

export const httpOf =
  (app: TestApp): Http =>
  (path, init) =>
    app.request(path, init);

export function httpOfUrl(base: string): Http {
  return (path, init = {}) => {
    const { json, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (json !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
    return fetch(`${base}${path}`, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body });
  };
}

/**
 * bun 1.4.5's toMatchObject writes its asymmetric matchers (expect.any(...)) into the object it
 * checks; assert on a copy when the object is used afterwards.
 */
export const copy = <T>(value: T): T => structuredClone(value);

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const readJson = (response: Response): Promise<Json> => response.json();

export async function expectStatus(response: Response, status: number, code?: string): Promise<Json> {
  const text = await response.text();
  if (response.status !== status) throw new Error(`expected ${status}${code ? ` ${code}` : ''}, got ${response.status} ${text}`);
  const body = text ? JSON.parse(text) : undefined;
  if (code !== undefined && body?.error?.code !== code) throw new Error(`expected error code ${code}, got ${text}`);
  return body;
}

export type User = { userId: string; accessToken: string };

export async function registerUser(http: Http): Promise<User> {
  const email = `rt-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}@example.com`;
  const response = await http('/api/v1/auth/register', { method: 'POST', json: { email, password: 'correct horse battery' } });
  const body = await expectStatus(response, 201);
  return { userId: body.user.id, accessToken: body.accessToken };
}

export async function createChat(http: Http, token: string, body: Record<string, unknown> = { provider: 'echo' }): Promise<Json> {
  return expectStatus(await http('/api/v1/chats', { method: 'POST', headers: bearer(token), json: body }), 201);
}

export const sendMessage = (http: Http, token: string, chatId: string, body: Record<string, unknown>) =>
  http(`/api/v1/chats/${chatId}/messages`, { method: 'POST', headers: bearer(token), json: body });

export async function storedMessage(http: Http, token: string, chatId: string, messageId: string): Promise<Json> {
  const chat = await expectStatus(await http(`/api/v1/chats/${chatId}`, { headers: bearer(token) }), 200);
  const message = chat.messages.find((m: { id: string }) => m.id === messageId);
  if (!message) throw new Error(`message ${messageId} is not in chat ${chatId}`);
  return message;
}

let counter = 0;
/** `count` words no other test sends; the echo provider replies with them one by one. */
export function uniqueWords(count: number, label = 'word'): string {
  counter += 1;
  const tag = `${Date.now().toString(36)}${counter}`;
  return Array.from({ length: count }, (_, i) => `${label}${i}-${tag}`).join(' ');
}

/** Polls every 20 ms (see tests/helpers/wait.ts). */
export const waitUntil = <T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 5000,
): Promise<T> => pollUntil(check, what, timeoutMs, 20);

export function expectIncreasing(ids: string[]): void {
  for (let i = 1; i < ids.length; i++) {
    if (compareEventIds(ids[i - 1]!, ids[i]!) >= 0) throw new Error(`event ids do not increase at ${i}: ${ids.join(', ')}`);
  }
}

/** The shared SSE reader (tests/helpers/sse.ts), which here insists on a text/event-stream response. */
export class SseReader extends SharedSseReader {
  constructor(response: Response) {
    super(response, { requireEventStream: true });
  }
}

/** A websocket client that records every frame (parsed JSON) and how it closed. */
export class WsClient {
  readonly frames: Json[] = [];
  readonly raw: string[] = [];
  closeEvent: { code: number; reason: string } | undefined;
  private waiters = new Set<() => void>();
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    this.opened = new Promise((resolve, reject) => {
      ws.addEventListener('open', () => resolve(), { once: true });
      ws.addEventListener('error', () => reject(new Error('websocket error before open')), { once: true });
    });
    this.opened.catch(() => undefined);
    this.closed = new Promise((resolve) => {
      ws.addEventListener('close', (event) => {
        this.closeEvent = { code: event.code, reason: event.reason };
        resolve(this.closeEvent);
        this.wake();
      });
    });
    ws.addEventListener('message', (event) => {
      const text = typeof event.data === 'string' ? event.data : new TextDecoder().decode(event.data as ArrayBuffer);
      this.raw.push(text);
      try {
        this.frames.push(JSON.parse(text));
      } catch {
        this.frames.push({ unparsable: text });
      }
      this.wake();
    });
  }

  static async connect(url: string): Promise<WsClient> {
    const client = new WsClient(new WebSocket(url));
    await client.opened;
    return client;
  }

  /** Connects with `?token=` and waits for the `ready` frame. */
  static async ready(base: string, token: string): Promise<WsClient> {
    const client = await WsClient.connect(`${base}?token=${encodeURIComponent(token)}`);
    await client.waitFor((f) => f.type === 'ready', 'ready');
    return client;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first frame (at index >= from) matching, waiting for it if needed. */
  async waitFor(match: (frame: Json) => boolean, what: string, timeoutMs = 10_000, from = 0): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const found = this.frames.slice(from).find(match);
      if (found) return found;
      if (this.closeEvent)
        throw new Error(`socket closed (${this.closeEvent.code}) while waiting for ${what}; frames: ${JSON.stringify(this.frames)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame for ${what} within ${timeoutMs} ms; frames: ${JSON.stringify(this.frames).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        const waiters = this.waiters;
        function done() {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
  }

  /** Frames of one reply (by requestId) until its done or error frame. */
  async reply(requestId: string, timeoutMs = 20_000): Promise<{ frames: Json[]; start: Json; end: Json; text: string }> {
    const end = await this.waitFor(
      (f) => f.requestId === requestId && (f.type === 'done' || f.type === 'error'),
      `done of ${requestId}`,
      timeoutMs,
    );
    const frames = this.frames.filter((f) => f.requestId === requestId);
    const start = frames.find((f) => f.type === 'start');
    const text = frames
      .filter((f) => f.type === 'delta')
      .map((f) => String(f.text))
      .join('');
    return { frames, start, end, text };
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000, 'bye');
    await Promise.race([this.closed, Bun.sleep(3000)]);
  }

  private wake() {
    for (const wake of [...this.waiters]) wake();
  }
}
