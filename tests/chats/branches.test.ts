// A conversation is a tree (../shared/API.md, Chats): regenerate adds a sibling reply in its turn,
// editing a question adds a sibling question with its own reply, `select` switches branches, and
// reads, history, search and stats follow the active path. Case #1 of
// ../shared/cases/2026-11-30-bug-reports.md is the first test, with the values the case asks for.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createSecondInstance, createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { type Account, bearer, createChat, expectStatus, getChat, type Json, register, sendJson, uniqueText } from '../helpers/client.ts';
import { bodyOf, llmEnv, textOfContent, upstreamCalls } from '../helpers/llm.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

/** The conversation the upstream was sent for the turn whose question is `text`, as `role:content`. */
const sentUpstream = (text: string) => {
  const [call] = upstreamCalls(fake, text);
  if (!call) throw new Error(`no upstream call for ${text}`);
  return (bodyOf(call).messages ?? []).map((m) => `${m.role}:${textOfContent(m.content)}`);
};
const line = (m: Json) => `${m.role}:${m.content}`;
/** The ids of the question and reply of each turn sent with stream:false, in order. */
const turnIds = (...turns: Json[]) => turns.flatMap((turn) => [turn.userMessage.id, turn.assistantMessage.id]);

for (const [name, kind] of kinds) {
  describe(`message branches on ${name}`, () => {
    let app: TestApp;
    let user: Account;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake));
      user = await register(app);
    });
    afterAll(() => app.close());

    const post = (path: string, json?: unknown) => app.request(path, { method: 'POST', headers: bearer(user.accessToken), json });
    const regenerate = async (chatId: string, messageId: string) =>
      expectStatus(await post(`/api/v1/chats/${chatId}/messages/${messageId}/regenerate`, { stream: false }), 200);
    const edit = async (chatId: string, messageId: string, content: string) =>
      expectStatus(
        await app.request(`/api/v1/chats/${chatId}/messages/${messageId}`, {
          method: 'PATCH',
          headers: bearer(user.accessToken),
          json: { content, stream: false },
        }),
        200,
      );
    const select = async (chatId: string, messageId: string) =>
      expectStatus(await post(`/api/v1/chats/${chatId}/messages/${messageId}/select`), 200);
    const path = async (chatId: string) => (await getChat(app, user.accessToken, chatId)).messages;
    const newChat = () => createChat(app, user.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });

    test('happy: regenerating an earlier reply keeps it in its turn, and the next turn sends one reply per question (case #1)', async () => {
      const chat = await newChat();
      const [one, two, three] = [uniqueText('one'), uniqueText('two'), uniqueText('three')];
      const first = await sendJson(app, user.accessToken, chat.id, { content: one });
      const second = await sendJson(app, user.accessToken, chat.id, { content: two });
      const regenerated = await regenerate(chat.id, first.assistantMessage.id);
      expect(regenerated.assistantMessage).toMatchObject({ parentId: first.userMessage.id, siblingCount: 2, siblingIndex: 1 });
      // Every version's id, so a client can select one it did not keep.
      expect(regenerated.assistantMessage.siblingIds).toEqual([first.assistantMessage.id, regenerated.assistantMessage.id]);

      const listed = await expectStatus(
        await app.request(`/api/v1/chats/${chat.id}/messages?limit=100`, { headers: bearer(user.accessToken) }),
        200,
      );
      expect(listed.data.map((m: Json) => m.id)).toEqual([
        first.userMessage.id,
        regenerated.assistantMessage.id,
        second.userMessage.id,
        second.assistantMessage.id,
      ]);
      expect(listed.data.map((m: Json) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);

      await sendJson(app, user.accessToken, chat.id, { content: three });
      const regeneratedText = regenerated.assistantMessage.content;
      expect(sentUpstream(three)).toEqual([
        `user:${one}`,
        `assistant:${regeneratedText}`,
        `user:${two}`,
        `assistant:${expectedReply(two)}`,
        `user:${three}`,
      ]);
    });

    test('happy: regenerating the last reply and going on sends only the new reply upstream', async () => {
      const chat = await newChat();
      const [one, two] = [uniqueText('alpha'), uniqueText('beta')];
      const first = await sendJson(app, user.accessToken, chat.id, { content: one });
      const again = await regenerate(chat.id, first.assistantMessage.id);
      await sendJson(app, user.accessToken, chat.id, { content: two });
      expect(sentUpstream(two)).toEqual([`user:${one}`, `assistant:${again.assistantMessage.content}`, `user:${two}`]);
      const messages = await path(chat.id);
      expect(messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
      expect(messages[1]).toMatchObject({ id: again.assistantMessage.id, siblingCount: 2, siblingIndex: 1 });
      expect(messages[2]!.parentId).toBe(first.userMessage.id);
    });

    test('happy: editing a question starts a branch with its own reply; select switches between the versions', async () => {
      const chat = await newChat();
      const [one, two, twoBis] = [uniqueText('first'), uniqueText('second'), uniqueText('second, edited')];
      const first = await sendJson(app, user.accessToken, chat.id, { content: one });
      const second = await sendJson(app, user.accessToken, chat.id, { content: two });

      const edited = await edit(chat.id, second.userMessage.id, twoBis);
      expect(edited.userMessage).toMatchObject({ content: twoBis, parentId: first.userMessage.id, siblingCount: 2, siblingIndex: 1 });
      expect(edited.assistantMessage).toMatchObject({
        content: expectedReply(twoBis),
        parentId: edited.userMessage.id,
        status: 'complete',
      });
      // The edited question's reply saw the path up to it, not the old branch.
      expect(sentUpstream(twoBis)).toEqual([`user:${one}`, `assistant:${expectedReply(one)}`, `user:${twoBis}`]);
      expect((await path(chat.id)).map(line)).toEqual([
        `user:${one}`,
        `assistant:${expectedReply(one)}`,
        `user:${twoBis}`,
        `assistant:${expectedReply(twoBis)}`,
      ]);

      // Back to the first version: its own reply comes with it.
      const back = await select(chat.id, second.userMessage.id);
      expect(back.messages.map((m: Json) => m.id)).toEqual(turnIds(first, second));
      expect(back.messages[2]).toMatchObject({ siblingCount: 2, siblingIndex: 0 });
      // And forth again, by the edited version's reply: its question is selected with it.
      const forth = await select(chat.id, edited.assistantMessage.id);
      expect(forth.messages.map((m: Json) => m.id).slice(2)).toEqual([edited.userMessage.id, edited.assistantMessage.id]);
    });

    test('happy: selecting an older reply puts it back in its turn and keeps the later turns', async () => {
      const chat = await newChat();
      const first = await sendJson(app, user.accessToken, chat.id, { content: uniqueText('q1') });
      const second = await sendJson(app, user.accessToken, chat.id, { content: uniqueText('q2') });
      const again = await regenerate(chat.id, first.assistantMessage.id);
      const restored = await select(chat.id, first.assistantMessage.id);
      expect(restored.messages.map((m: Json) => m.id)).toEqual(turnIds(first, second));
      expect(restored.messages[1]).toMatchObject({ siblingCount: 2, siblingIndex: 0 });
      expect((await select(chat.id, again.assistantMessage.id)).messages[1].id).toBe(again.assistantMessage.id);
    });

    test('happy: pages of GET /messages walk the active path in order', async () => {
      const chat = await newChat();
      const first = await sendJson(app, user.accessToken, chat.id, { content: uniqueText('p1') });
      await sendJson(app, user.accessToken, chat.id, { content: uniqueText('p2') });
      await regenerate(chat.id, first.assistantMessage.id);
      const whole = (await path(chat.id)).map((m) => m.id);
      const paged: string[] = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
        const page = await expectStatus(
          await app.request(`/api/v1/chats/${chat.id}/messages?limit=1${query}`, { headers: bearer(user.accessToken) }),
          200,
        );
        paged.push(...page.data.map((m: Json) => m.id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(paged).toEqual(whole);
      expect(whole).toHaveLength(4);
    });

    test('happy: search and stats see the active path only', async () => {
      const before = await expectStatus(await app.request('/api/v1/chats/stats', { headers: bearer(user.accessToken) }), 200);
      // Titled: an untitled chat is named after its first question, and titles are searched too.
      const chat = await createChat(app, user.accessToken, { provider: 'openai', model: 'gpt-4o-mini', title: 'branch search' });
      const hidden = `zebracorn${Date.now().toString(36)}`;
      const first = await sendJson(app, user.accessToken, chat.id, { content: `${hidden} question` });
      await edit(chat.id, first.userMessage.id, 'a plain question');
      const found = await expectStatus(await app.request(`/api/v1/chats/search?q=${hidden}`, { headers: bearer(user.accessToken) }), 200);
      expect(found.data).toEqual([]);
      const stats = await expectStatus(await app.request('/api/v1/chats/stats', { headers: bearer(user.accessToken) }), 200);
      expect(stats.messages - before.messages).toBe(2);
      await select(chat.id, first.userMessage.id);
      const back = await expectStatus(await app.request(`/api/v1/chats/search?q=${hidden}`, { headers: bearer(user.accessToken) }), 200);
      expect(back.data.map((hit: Json) => hit.chat.id)).toEqual([chat.id]);
    });

    test('error: editing a reply is 409, an unknown message is 404, and another user’s chat is 404', async () => {
      const chat = await newChat();
      const sent = await sendJson(app, user.accessToken, chat.id, { content: uniqueText('mine') });
      const patch = (token: string, chatId: string, messageId: string) =>
        app.request(`/api/v1/chats/${chatId}/messages/${messageId}`, { method: 'PATCH', headers: bearer(token), json: { content: 'x' } });
      await expectStatus(await patch(user.accessToken, chat.id, sent.assistantMessage.id), 409, 'conflict');
      await expectStatus(await patch(user.accessToken, chat.id, 'no-such-message'), 404, 'not_found');
      await expectStatus(await post(`/api/v1/chats/${chat.id}/messages/no-such-message/select`), 404, 'not_found');
      const other = await register(app);
      await expectStatus(await patch(other.accessToken, chat.id, sent.userMessage.id), 404, 'not_found');
      expect((await path(chat.id)).map((m) => m.id)).toEqual([sent.userMessage.id, sent.assistantMessage.id]);
    });

    test('happy: a chat written before branches (no parents) becomes one path with the migration, the last of two replies selected', async () => {
      const chat = await createChat(app, user.accessToken, { provider: 'echo' });
      const { db } = app.infra;
      const { messages } = db.tables;
      // As the old code stored it: in id order, a regenerated reply at the end, no tree columns set.
      const ids = Array.from({ length: 5 }, () => Bun.randomUUIDv7());
      const rows = [
        ['user', 'u1'],
        ['assistant', 'a1'],
        ['user', 'u2'],
        ['assistant', 'a2'],
        ['assistant', 'a2 again'],
      ] as const;
      await db.run((q) =>
        q.insert(messages).values(rows.map(([role, content], i) => ({ id: ids[i]!, chatId: chat.id, role, content, sortKey: '' }))),
      );
      const migration = readFileSync(
        join(import.meta.dir, `../../drizzle/${db.kind === 'sqlite' ? 'sqlite' : 'pg'}/0005_message_tree.sql`),
        'utf8',
      );
      for (const statement of migration.split('--> statement-breakpoint').filter((s) => /^\s*(--[^\n]*\n\s*)*UPDATE/.test(s))) {
        await db.raw(sql.raw(statement));
      }
      expect((await path(chat.id)).map(line)).toEqual(['user:u1', 'assistant:a1', 'user:u2', 'assistant:a2 again']);
      expect((await path(chat.id))[3]).toMatchObject({ parentId: ids[2], siblingCount: 2, siblingIndex: 1 });
    });
  });
}

describe.if(hasPostgres && hasRedis)('message branches across two instances on one Postgres and Redis', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await createTestApp({ database: 'postgres', kv: 'redis' }, llmEnv(fake));
    // B shares A's database, key prefix and secret: the same service behind a load balancer.
    b = await createSecondInstance(a, llmEnv(fake));
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  test('happy: a branch made on A is read, switched and continued on B, and A sees the switch', async () => {
    const user = await register(a);
    const chat = await createChat(a, user.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });
    const first = await sendJson(a, user.accessToken, chat.id, { content: uniqueText('on A') });
    const again = await expectStatus(
      await a.request(`/api/v1/chats/${chat.id}/messages/${first.assistantMessage.id}/regenerate`, {
        method: 'POST',
        headers: bearer(user.accessToken),
        json: { stream: false },
      }),
      200,
    );
    expect((await getChat(b, user.accessToken, chat.id)).messages.map((m) => m.id)).toEqual([
      first.userMessage.id,
      again.assistantMessage.id,
    ]);
    const switched = await expectStatus(
      await b.request(`/api/v1/chats/${chat.id}/messages/${first.assistantMessage.id}/select`, {
        method: 'POST',
        headers: bearer(user.accessToken),
      }),
      200,
    );
    expect(switched.messages[1]).toMatchObject({ id: first.assistantMessage.id, siblingCount: 2, siblingIndex: 0 });
    const next = uniqueText('on B');
    await sendJson(b, user.accessToken, chat.id, { content: next });
    expect(sentUpstream(next)).toEqual([
      `user:${first.userMessage.content}`,
      `assistant:${first.assistantMessage.content}`,
      `user:${next}`,
    ]);
    expect((await getChat(a, user.accessToken, chat.id)).messages.map((m) => m.id).slice(0, 2)).toEqual(turnIds(first));
  });
});
