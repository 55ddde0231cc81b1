// Transcripts (API.md "Transcripts", issue 14): a frozen copy of a path through a chat, owned by
// its user, read as JSON, Markdown or text, listed, changed and deleted, on both storage kinds.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { parse as parseContentDisposition } from 'content-disposition';
import { eq } from 'drizzle-orm';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  bearer,
  createChat,
  expectError,
  expectStatus,
  type Json,
  register,
  sendMessage,
  testEnv,
  uniqueWords,
  waitUntil,
} from '../helpers/client.ts';
import {
  activeContents,
  attachFile,
  call,
  chatWithTurns,
  createTranscript,
  quickEcho,
  readTranscript,
  shape,
  transcriptJson,
} from './support.ts';

for (const [name, kind] of kinds) {
  describe(`transcripts on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, { ...testEnv, ...quickEcho });
    });
    afterAll(() => app.close());

    test('happy: POST freezes the active path with roles, contents, models and times; GET reads the same', async () => {
      const { accessToken: token } = await register(app);
      const { chat, turns } = await chatWithTurns(app, token, 'Trip planning', ['where to go', 'what to pack']);
      const created = await createTranscript(app, token, { chatId: chat.id });
      expect(created).toMatchObject({ chatId: chat.id, branch: null, title: 'Trip planning', notes: null, tags: [], messageCount: 4 });
      expect(shape(created)).toEqual([
        ['user', 'where to go', turns[0].userMessage.id],
        ['assistant', 'where to go', turns[0].assistantMessage.id],
        ['user', 'what to pack', turns[1].userMessage.id],
        ['assistant', 'what to pack', turns[1].assistantMessage.id],
      ]);
      expect(created.messages.map((m: Json) => m.position)).toEqual([0, 1, 2, 3]);
      expect(created.messages[1]).toMatchObject({ provider: 'echo', model: 'echo', attachments: [] });
      expect(created.messages[0]).toMatchObject({ provider: null, model: null, createdAt: turns[0].userMessage.createdAt });
      expect(await transcriptJson(app, token, created.id)).toEqual(created);
    });

    test('happy: later edits, regenerations and deleting the chat change nothing in the transcript', async () => {
      const { accessToken: token } = await register(app);
      const { chat, turns } = await chatWithTurns(app, token, 'Frozen', ['first question', 'second question']);
      const created = await createTranscript(app, token, { chatId: chat.id, title: 'Before the edits' });
      const chatPath = `/chats/${chat.id}/messages`;
      await expectStatus(
        await call(app, token, 'PATCH', `${chatPath}/${turns[1].userMessage.id}`, { content: 'second, edited', stream: false }),
        200,
      );
      await expectStatus(await call(app, token, 'PATCH', `/chats/${chat.id}`, { title: 'Renamed chat' }), 200);
      const edited = await activeContents(app, token, chat.id);
      expect(edited).toEqual(['first question', 'first question', 'second, edited', 'second, edited']);
      const regenerated = await expectStatus(
        await call(app, token, 'POST', `${chatPath}/${turns[0].assistantMessage.id}/regenerate`, { stream: false }),
        200,
      );
      expect(regenerated.assistantMessage.id).not.toBe(turns[0].assistantMessage.id);
      expect(await transcriptJson(app, token, created.id)).toEqual(created);
      await app.infra.cache.clear('transcripts-*');
      expect(await transcriptJson(app, token, created.id)).toEqual(created);

      expect((await call(app, token, 'DELETE', `/chats/${chat.id}`)).status).toBe(204);
      await app.infra.cache.clear('transcripts-*');
      const afterDelete = await transcriptJson(app, token, created.id);
      expect(afterDelete).toEqual(created);
      expect(shape(afterDelete).map((row: string[]) => row[1])).toEqual([
        'first question',
        'first question',
        'second question',
        'second question',
      ]);
      expect((await readTranscript(app, token, created.id, 'txt')).status).toBe(200);
      // A deleted chat cannot be frozen again.
      await expectError(await call(app, token, 'POST', '/transcripts', { chatId: chat.id }), 404, 'not_found');
    });

    test('happy: `branch` freezes the path through that message (root → it, then its selected descendants) and leaves the chat as it was', async () => {
      const { accessToken: token } = await register(app);
      const { chat, turns } = await chatWithTurns(app, token, 'Branches', ['alpha one', 'beta two', 'delta four']);
      const chatPath = `/chats/${chat.id}/messages`;
      // A second version of the second question: the active path now runs through it.
      const gamma = await expectStatus(
        await call(app, token, 'PATCH', `${chatPath}/${turns[1].userMessage.id}`, { content: 'gamma three', stream: false }),
        200,
      );
      // A second reply to the first question: the active path now takes it.
      const again = await expectStatus(
        await call(app, token, 'POST', `${chatPath}/${turns[0].assistantMessage.id}/regenerate`, { stream: false }),
        200,
      );
      const active = ['alpha one', 'alpha one', 'gamma three', 'gamma three'];
      expect(await activeContents(app, token, chat.id)).toEqual(active);

      const ofActive = await createTranscript(app, token, { chatId: chat.id });
      expect(shape(ofActive).map((row: string[]) => row[2])).toEqual([
        turns[0].userMessage.id,
        again.assistantMessage.id,
        gamma.userMessage.id,
        gamma.assistantMessage.id,
      ]);

      // Through the first version of the second question: its own later turn comes along.
      const ofBeta = await createTranscript(app, token, { chatId: chat.id, branch: turns[1].userMessage.id });
      expect(ofBeta.branch).toBe(turns[1].userMessage.id);
      expect(shape(ofBeta).map((row: string[]) => row[2])).toEqual([
        turns[0].userMessage.id,
        again.assistantMessage.id,
        turns[1].userMessage.id,
        turns[1].assistantMessage.id,
        turns[2].userMessage.id,
        turns[2].assistantMessage.id,
      ]);

      // Through the first reply: that reply, then the selected versions after it.
      const ofFirstReply = await createTranscript(app, token, { chatId: chat.id, branch: turns[0].assistantMessage.id });
      expect(shape(ofFirstReply).map((row: string[]) => row[2])).toEqual([
        turns[0].userMessage.id,
        turns[0].assistantMessage.id,
        gamma.userMessage.id,
        gamma.assistantMessage.id,
      ]);

      // Through the last reply of the old branch: the whole old branch.
      const ofDelta = await createTranscript(app, token, { chatId: chat.id, branch: turns[2].assistantMessage.id });
      expect(shape(ofDelta).map((row: string[]) => row[1])).toEqual([
        'alpha one',
        'alpha one',
        'beta two',
        'beta two',
        'delta four',
        'delta four',
      ]);

      expect(await activeContents(app, token, chat.id)).toEqual(active);
      await expectError(await call(app, token, 'POST', '/transcripts', { chatId: chat.id, branch: 'no-such-message' }), 404, 'not_found');
      const other = await chatWithTurns(app, token, 'Another', ['elsewhere']);
      await expectError(
        await call(app, token, 'POST', '/transcripts', { chatId: chat.id, branch: other.turns[0].userMessage.id }),
        404,
        'not_found',
      );
    });

    test('happy: a reply still being generated is left out: only stored text is frozen', async () => {
      const slow = await createTestApp(kind, { ...testEnv, ECHO_DELAY_MS: '100' });
      try {
        const { accessToken: token } = await register(slow);
        const chat = await createChat(slow, token, { title: 'Slow', provider: 'echo' });
        const streaming = await sendMessage(slow, token, chat.id, { content: uniqueWords(30) });
        expect(streaming.status).toBe(200);
        // The reply is stored as `streaming` with part of its text: that is what must not be frozen.
        await waitUntil(async () => {
          const read = await expectStatus(await call(slow, token, 'GET', `/chats/${chat.id}`), 200);
          const reply = read.messages.find((m: Json) => m.role === 'assistant');
          return reply?.status === 'streaming';
        }, 'the reply to be stored as streaming');
        const created = await createTranscript(slow, token, { chatId: chat.id });
        expect(shape(created).map((row: string[]) => row[0])).toEqual(['user']);
        expect(created.messageCount).toBe(1);
        await streaming.text();
        const after = await createTranscript(slow, token, { chatId: chat.id });
        expect(shape(after).map((row: string[]) => row[0])).toEqual(['user', 'assistant']);
      } finally {
        await slow.close();
      }
    });

    test('happy: each message keeps its attachments’ names in their order, as they were', async () => {
      const account = await register(app);
      const { chat, turns } = await chatWithTurns(app, account.accessToken, 'Files', ['see attached', 'thanks']);
      await attachFile(app, account.userId, turns[0].userMessage.id, 'second.png', 1);
      await attachFile(app, account.userId, turns[0].userMessage.id, 'first report.pdf', 0);
      await attachFile(app, account.userId, turns[1].userMessage.id, 'notes_v2.txt', 0);
      const created = await createTranscript(app, account.accessToken, { chatId: chat.id });
      expect(created.messages.map((m: Json) => m.attachments)).toEqual([['first report.pdf', 'second.png'], [], ['notes_v2.txt'], []]);
      // Renaming a file later does not reach the transcript.
      const { db } = app.infra;
      await db.run((q) => q.update(db.tables.files).set({ name: 'renamed.pdf' }).where(eq(db.tables.files.userId, account.userId)));
      await app.infra.cache.clear('transcripts-*');
      expect((await transcriptJson(app, account.accessToken, created.id)).messages[0].attachments).toEqual([
        'first report.pdf',
        'second.png',
      ]);
    });

    test('happy: Markdown and text downloads have exactly the expected content, type and file name', async () => {
      const account = await register(app);
      const token = account.accessToken;
      const { chat, turns } = await chatWithTurns(app, token, undefined, ['Hello **world**', 'Second line\nwith a break']);
      await attachFile(app, account.userId, turns[0].userMessage.id, 'a_b.txt', 0);
      const title = 'Q3 plan: "draft" / ünïcode 👩‍👩‍👧‍👦';
      const created = await createTranscript(app, token, { chatId: chat.id, title });
      await expectStatus(await call(app, token, 'PATCH', `/transcripts/${created.id}`, { notes: 'Keep this.', tags: ['work', 'q3'] }), 200);
      const [q1, a1, q2, a2] = created.messages;

      const md = await readTranscript(app, token, created.id, 'md');
      expect(md.status).toBe(200);
      expect(md.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
      expect(await md.text()).toBe(
        [
          '# Q3 plan: "draft" / ünïcode 👩‍👩‍👧‍👦',
          '',
          `- Taken: ${created.createdAt}`,
          `- Chat: ${chat.id}`,
          '- Tags: work, q3',
          '- Messages: 4',
          '',
          '## Notes',
          '',
          'Keep this.',
          '',
          `## User · ${q1.createdAt}`,
          '',
          'Hello **world**',
          '',
          'Attachments: a\\_b.txt',
          '',
          `## Assistant (echo/echo) · ${a1.createdAt}`,
          '',
          'Hello **world**',
          '',
          `## User · ${q2.createdAt}`,
          '',
          'Second line\nwith a break',
          '',
          `## Assistant (echo/echo) · ${a2.createdAt}`,
          '',
          'Second line\nwith a break',
          '',
        ].join('\n'),
      );
      const mdDisposition = md.headers.get('content-disposition')!;
      // RFC 6266: an ASCII stand-in for old clients, the exact name (RFC 8187) for the rest.
      const fileName = 'Q3 plan- -draft- - ünïcode 👩‍👩‍👧‍👦.md';
      expect(mdDisposition).toBe(
        `attachment; filename="Q3 plan- -draft- - unicode _.md"; filename*=UTF-8''${encodeURIComponent(fileName)}`,
      );
      expect(parseContentDisposition(mdDisposition)).toMatchObject({ type: 'attachment', parameters: { filename: fileName } });

      const txt = await readTranscript(app, token, created.id, 'txt');
      expect(txt.status).toBe(200);
      expect(txt.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(await txt.text()).toBe(
        [
          'Q3 plan: "draft" / ünïcode 👩‍👩‍👧‍👦',
          `Taken: ${created.createdAt}`,
          `Chat: ${chat.id}`,
          'Tags: work, q3',
          'Messages: 4',
          '',
          'Notes:',
          'Keep this.',
          '',
          `User · ${q1.createdAt}`,
          'Hello **world**',
          'Attachments: a_b.txt',
          '',
          `Assistant (echo/echo) · ${a1.createdAt}`,
          'Hello **world**',
          '',
          `User · ${q2.createdAt}`,
          'Second line\nwith a break',
          '',
          `Assistant (echo/echo) · ${a2.createdAt}`,
          'Second line\nwith a break',
          '',
        ].join('\n'),
      );
      expect(parseContentDisposition(txt.headers.get('content-disposition')!).parameters.filename).toBe(
        'Q3 plan- -draft- - ünïcode 👩‍👩‍👧‍👦.txt',
      );

      const json = await readTranscript(app, token, created.id, 'json');
      expect(json.headers.get('content-type')).toStartWith('application/json');
      expect(json.headers.get('content-disposition')).toBeNull();
      expect(((await json.json()) as Json).title).toBe(title);
      await expectError(await readTranscript(app, token, created.id, 'pdf'), 422, 'validation_error');
    });

    test('happy: a plain ASCII title is the file name as it is; a branch is named in the download', async () => {
      const { accessToken: token } = await register(app);
      const { chat, turns } = await chatWithTurns(app, token, 'Weekly sync', ['agenda']);
      const created = await createTranscript(app, token, { chatId: chat.id, branch: turns[0].assistantMessage.id });
      const md = await readTranscript(app, token, created.id, 'md');
      expect(md.headers.get('content-disposition')).toBe('attachment; filename="Weekly sync.md"');
      expect(await md.text()).toContain(`- Branch: ${turns[0].assistantMessage.id}\n`);
    });

    test('happy: PATCH changes title, notes and tags (tags trimmed and kept once); null clears notes; messages never change', async () => {
      const { accessToken: token } = await register(app);
      const { chat } = await chatWithTurns(app, token, 'Patchable', ['one']);
      const created = await createTranscript(app, token, { chatId: chat.id });
      const patched = await expectStatus(
        await call(app, token, 'PATCH', `/transcripts/${created.id}`, { title: 'Renamed', notes: 'some notes', tags: ['a', ' b ', 'a'] }),
        200,
      );
      expect(patched).toMatchObject({ id: created.id, title: 'Renamed', notes: 'some notes', tags: ['a', 'b'], messageCount: 2 });
      expect(Date.parse(patched.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.updatedAt));
      expect(patched.messages).toBeUndefined();
      const read = await transcriptJson(app, token, created.id);
      expect(read).toEqual({ ...created, title: 'Renamed', notes: 'some notes', tags: ['a', 'b'], updatedAt: patched.updatedAt });
      const cleared = await expectStatus(await call(app, token, 'PATCH', `/transcripts/${created.id}`, { notes: null }), 200);
      expect(cleared).toMatchObject({ title: 'Renamed', notes: null, tags: ['a', 'b'] });
      expect((await transcriptJson(app, token, created.id)).notes).toBeNull();
    });

    test('error: PATCH refuses an empty body, unknown fields, long or too many tags, an empty title', async () => {
      const { accessToken: token } = await register(app);
      const { chat } = await chatWithTurns(app, token, 'Strict', ['one']);
      const created = await createTranscript(app, token, { chatId: chat.id });
      const path = `/transcripts/${created.id}`;
      for (const body of [
        {},
        { messages: [] },
        { title: '' },
        { tags: ['x'.repeat(41)] },
        { tags: Array.from({ length: 21 }, (_, i) => `t${i}`) },
        { tags: [''] },
        { notes: 5 },
      ]) {
        await expectError(await call(app, token, 'PATCH', path, body), 422, 'validation_error');
      }
      expect(await transcriptJson(app, token, created.id)).toEqual(created);
    });

    test('error: POST refuses a missing chatId, unknown fields and a title too long', async () => {
      const { accessToken: token } = await register(app);
      const { chat } = await chatWithTurns(app, token, 'Strict post', ['one']);
      for (const body of [{}, { chatId: chat.id, extra: true }, { chatId: chat.id, title: 'x'.repeat(201) }, { chatId: '' }]) {
        await expectError(await call(app, token, 'POST', '/transcripts', body), 422, 'validation_error');
      }
      await expectError(await call(app, token, 'POST', '/transcripts', { chatId: 'no-such-chat' }), 404, 'not_found');
    });

    test('happy: DELETE answers 204, then the transcript is gone from reads, lists and search', async () => {
      const { accessToken: token } = await register(app);
      const { chat } = await chatWithTurns(app, token, 'Doomed zanzibar', ['zanzibar is here']);
      const created = await createTranscript(app, token, { chatId: chat.id });
      await transcriptJson(app, token, created.id);
      const removed = await call(app, token, 'DELETE', `/transcripts/${created.id}`);
      expect(removed.status).toBe(204);
      expect(await removed.text()).toBe('');
      for (const format of [undefined, 'md', 'txt'])
        await expectError(await readTranscript(app, token, created.id, format), 404, 'not_found');
      expect((await expectStatus(await call(app, token, 'GET', '/transcripts'), 200)).data).toEqual([]);
      expect((await expectStatus(await call(app, token, 'GET', '/transcripts/search?q=zanzibar'), 200)).data).toEqual([]);
      await expectError(await call(app, token, 'DELETE', `/transcripts/${created.id}`), 404, 'not_found');
      await expectError(await call(app, token, 'PATCH', `/transcripts/${created.id}`, { title: 'x' }), 404, 'not_found');
      // The chat is untouched.
      expect(await activeContents(app, token, chat.id)).toEqual(['zanzibar is here', 'zanzibar is here']);
    });

    test('happy: the list pages newest first with cursors, without messages; ?q filters by title in any case, literally', async () => {
      const { accessToken: token } = await register(app);
      const { chat } = await chatWithTurns(app, token, 'Source', ['hello']);
      const titles = ['Alpha notes', 'beta NOTES', 'Gamma', '100% done', 'delta notes'];
      const ids: string[] = [];
      for (const title of titles) ids.push((await createTranscript(app, token, { chatId: chat.id, title })).id);
      const newestFirst = [...ids].reverse();

      const first = await expectStatus(await call(app, token, 'GET', '/transcripts?limit=2'), 200);
      expect(first.data.map((t: Json) => t.id)).toEqual(newestFirst.slice(0, 2));
      expect(first.data[0]).toEqual({
        id: ids[4],
        chatId: chat.id,
        branch: null,
        title: 'delta notes',
        notes: null,
        tags: [],
        messageCount: 2,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      const second = await expectStatus(await call(app, token, 'GET', `/transcripts?limit=2&cursor=${first.nextCursor}`), 200);
      expect(second.data.map((t: Json) => t.id)).toEqual(newestFirst.slice(2, 4));
      const third = await expectStatus(await call(app, token, 'GET', `/transcripts?limit=2&cursor=${second.nextCursor}`), 200);
      expect(third.data.map((t: Json) => t.id)).toEqual(newestFirst.slice(4));
      expect(third.nextCursor).toBeNull();

      const notes = await expectStatus(await call(app, token, 'GET', '/transcripts?q=notes'), 200);
      expect(notes.data.map((t: Json) => t.title)).toEqual(['delta notes', 'beta NOTES', 'Alpha notes']);
      const notesPage = await expectStatus(await call(app, token, 'GET', '/transcripts?q=NOTES&limit=1'), 200);
      expect(notesPage.data.map((t: Json) => t.title)).toEqual(['delta notes']);
      const rest = await expectStatus(await call(app, token, 'GET', `/transcripts?q=NOTES&limit=5&cursor=${notesPage.nextCursor}`), 200);
      expect(rest.data.map((t: Json) => t.title)).toEqual(['beta NOTES', 'Alpha notes']);
      const percent = await expectStatus(await call(app, token, 'GET', `/transcripts?q=${encodeURIComponent('0%')}`), 200);
      expect(percent.data.map((t: Json) => t.title)).toEqual(['100% done']);
      expect((await expectStatus(await call(app, token, 'GET', '/transcripts?q=_'), 200)).data).toEqual([]);

      await expectError(await call(app, token, 'GET', '/transcripts?cursor=not-a-cursor'), 422, 'validation_error');
      await expectError(await call(app, token, 'GET', '/transcripts?limit=101'), 422, 'validation_error');
    });

    test('happy: a repeated POST with the same Idempotency-Key answers the first transcript and makes no second one', async () => {
      const { accessToken: token } = await register(app);
      const { chat } = await chatWithTurns(app, token, 'Once', ['only once']);
      const headers = { 'idempotency-key': crypto.randomUUID() };
      const first = await createTranscript(app, token, { chatId: chat.id }, headers);
      const repeat = await app.request('/api/v1/transcripts', {
        method: 'POST',
        headers: { ...bearer(token), ...headers },
        json: { chatId: chat.id },
      });
      expect(repeat.status).toBe(201);
      expect(repeat.headers.get('idempotency-replayed')).toBe('true');
      expect(await repeat.json()).toEqual(first);
      expect((await expectStatus(await call(app, token, 'GET', '/transcripts'), 200)).data.map((t: Json) => t.id)).toEqual([first.id]);
      const other = await app.request('/api/v1/transcripts', {
        method: 'POST',
        headers: { ...bearer(token), ...headers },
        json: { chatId: chat.id, title: 'different body' },
      });
      await expectError(other, 422, 'validation_error');
    });

    test("security: another user's transcripts and chats are 404 on every route, and never listed or found", async () => {
      const owner = await register(app);
      const stranger = await register(app);
      const { chat, turns } = await chatWithTurns(app, owner.accessToken, 'Private quokka', ['quokka secrets']);
      const created = await createTranscript(app, owner.accessToken, { chatId: chat.id });
      // The owner's read fills the cache first: a cached copy must not leak either.
      await transcriptJson(app, owner.accessToken, created.id);
      const token = stranger.accessToken;
      for (const format of [undefined, 'json', 'md', 'txt']) {
        await expectError(await readTranscript(app, token, created.id, format), 404, 'not_found');
      }
      await expectError(await call(app, token, 'PATCH', `/transcripts/${created.id}`, { title: 'mine now' }), 404, 'not_found');
      await expectError(await call(app, token, 'DELETE', `/transcripts/${created.id}`), 404, 'not_found');
      await expectError(await call(app, token, 'POST', '/transcripts', { chatId: chat.id }), 404, 'not_found');
      await expectError(
        await call(app, token, 'POST', '/transcripts', { chatId: chat.id, branch: turns[0].userMessage.id }),
        404,
        'not_found',
      );
      // A stranger's own chat with the owner's message as the branch: not in that chat.
      const own = await chatWithTurns(app, token, 'Mine', ['mine']);
      await expectError(
        await call(app, token, 'POST', '/transcripts', { chatId: own.chat.id, branch: turns[0].userMessage.id }),
        404,
        'not_found',
      );
      expect((await expectStatus(await call(app, token, 'GET', '/transcripts?q=quokka'), 200)).data).toEqual([]);
      expect((await expectStatus(await call(app, token, 'GET', '/transcripts/search?q=quokka'), 200)).data).toEqual([]);
      expect(await transcriptJson(app, owner.accessToken, created.id)).toEqual(created);
    });

    test('security: every route needs credentials', async () => {
      for (const [method, path] of [
        ['GET', '/api/v1/transcripts'],
        ['POST', '/api/v1/transcripts'],
        ['GET', '/api/v1/transcripts/search?q=x'],
        ['GET', '/api/v1/transcripts/some-id'],
        ['PATCH', '/api/v1/transcripts/some-id'],
        ['DELETE', '/api/v1/transcripts/some-id'],
      ] as const) {
        await expectError(
          await app.request(path, { method, json: method === 'GET' || method === 'DELETE' ? undefined : {} }),
          401,
          'unauthorized',
        );
      }
    });
  });
}

describe('transcripts in the OpenAPI document', () => {
  test('happy: every route is described, with the download formats and the branch explained', async () => {
    const app = await createTestApp(undefined, testEnv);
    try {
      const doc = (await (await app.request('/swagger/json')).json()) as Json;
      const ops = (path: string) => Object.keys(doc.paths[path] ?? {}).sort();
      expect(ops('/api/v1/transcripts')).toEqual(['get', 'post']);
      expect(ops('/api/v1/transcripts/search')).toEqual(['get']);
      expect(ops('/api/v1/transcripts/{id}')).toEqual(['delete', 'get', 'patch']);
      const read = doc.paths['/api/v1/transcripts/{id}'].get;
      expect(Object.keys(read.responses['200'].content).sort()).toEqual(['application/json', 'text/markdown', 'text/plain']);
      expect(read.parameters.find((p: Json) => p.name === 'format').schema.enum).toEqual(['json', 'md', 'txt']);
      const post = doc.paths['/api/v1/transcripts'].post;
      expect(JSON.stringify(post.requestBody)).toContain('selected descendants');
      expect(post.responses['409']).toBeDefined();
      expect(doc.paths['/api/v1/transcripts/search'].get.responses['200']).toBeDefined();
      expect(doc.tags.map((tag: Json) => tag.name)).toContain('Transcripts');
    } finally {
      await app.close();
    }
  });
});
