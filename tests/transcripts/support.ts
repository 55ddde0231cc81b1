// What the transcripts suites share: creating and reading transcripts over HTTP, and chats with turns to freeze.
import { expect } from 'bun:test';
import type { TestApp } from '../helpers/app.ts';
import { bearer, createChat, expectStatus, type Json, sendJson } from '../helpers/client.ts';

/** Tests need replies at once: the echo provider without its pause between words. */
export const quickEcho = { ECHO_DELAY_MS: '0' };

/** POST /transcripts as `token`'s user; must be 201. */
export async function createTranscript(app: TestApp, token: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return expectStatus(
    await app.request('/api/v1/transcripts', { method: 'POST', headers: { ...bearer(token), ...headers }, json: body }),
    201,
  ) as Promise<Json>;
}

/** GET /transcripts/:id (optionally `?format=`), raw. */
export const readTranscript = (app: TestApp, token: string, id: string, format?: string) =>
  app.request(`/api/v1/transcripts/${id}${format ? `?format=${format}` : ''}`, { headers: bearer(token) });

/** GET /transcripts/:id as JSON; must be 200. */
export async function transcriptJson(app: TestApp, token: string, id: string): Promise<Json> {
  return expectStatus(await readTranscript(app, token, id), 200);
}

/** Any call as `token`'s user, raw. */
export const call = (app: TestApp, token: string, method: string, path: string, json?: unknown) =>
  app.request(`/api/v1${path}`, { method, headers: bearer(token), json });

/** A chat (titled `title`) with one turn per question, answered by echo; the sent {userMessage, assistantMessage} pairs. */
export async function chatWithTurns(app: TestApp, token: string, title: string | undefined, questions: string[]) {
  const chat = await createChat(app, token, title ? { title, provider: 'echo' } : { provider: 'echo' });
  const turns: Json[] = [];
  for (const content of questions) turns.push(await sendJson(app, token, chat.id, { content }));
  return { chat, turns };
}

/** The transcript's messages as [role, content, messageId]. */
export const shape = (transcript: Json) => transcript.messages.map((m: Json) => [m.role, m.content, m.messageId]);

/** Seeds an uploaded file (the row files/ would write) and attaches it to a message at `position`. */
export async function attachFile(app: TestApp, userId: string, messageId: string, name: string, position: number) {
  const { db } = app.infra;
  const id = Bun.randomUUIDv7();
  await db.run((q) =>
    q.insert(db.tables.files).values({ id, userId, name, contentType: 'text/plain', size: 1, sha256: '0'.repeat(64), storageKey: id }),
  );
  await db.run((q) => q.insert(db.tables.messageAttachments).values({ messageId, fileId: id, position }));
  return id;
}

/** The message of the chat's current path with that id must exist (the chat was not changed by a read). */
export async function activeContents(app: TestApp, token: string, chatId: string): Promise<string[]> {
  const chat = await expectStatus(await call(app, token, 'GET', `/chats/${chatId}`), 200);
  expect(Array.isArray(chat.messages)).toBe(true);
  return chat.messages.map((m: Json) => m.content);
}
