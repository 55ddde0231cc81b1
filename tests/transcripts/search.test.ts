// GET /transcripts/search: full text over the caller's transcripts on both databases (FTS5 on
// SQLite, tsvector + GIN on Postgres), with snippets cut between characters (UAX #29) and the
// searched words marked, through the HTTP API and against the planner.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { transcriptMessageVector, transcriptTitleVector } from '../../src/modules/transcripts/search.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { expectError, expectStatus, type Json, register, testEnv } from '../helpers/client.ts';
import { call, chatWithTurns, createTranscript, quickEcho } from './support.ts';

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const boundariesOf = (text: string) => new Set([...[...segmenter.segment(text)].map((segment) => segment.index), text.length]);
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const withoutEllipses = (snippet: string) => snippet.replace(/^…/, '').replace(/…$/, '');

/** `part` occurs in `original` starting and ending on cluster boundaries. */
function isClusterRun(part: string, original: string): boolean {
  const boundaries = boundariesOf(original);
  for (let at = original.indexOf(part); at >= 0; at = original.indexOf(part, at + 1)) {
    if (boundaries.has(at) && boundaries.has(at + part.length)) return true;
  }
  return false;
}

/** The marked words of a match, as text. */
const marked = (match: Json) => match.highlights.map((h: Json) => match.snippet.slice(h.start, h.end));

for (const [name, kind] of kinds) {
  describe(`transcript search on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, { ...testEnv, ...quickEcho });
    });
    afterAll(() => app.close());

    const search = async (token: string, q: string, extra = ''): Promise<Json> =>
      expectStatus(await call(app, token, 'GET', `/transcripts/search?q=${encodeURIComponent(q)}${extra}`), 200);

    test('happy: a word in a message finds its transcript, with the message position, a snippet and the word marked', async () => {
      const { accessToken: token } = await register(app);
      const { chat } = await chatWithTurns(app, token, 'Infra', ['How do I restart the Kubernetes deployment']);
      const created = await createTranscript(app, token, { chatId: chat.id });
      const { data, nextCursor } = await search(token, 'kubernetes');
      expect(nextCursor).toBeNull();
      expect(data).toHaveLength(1);
      expect(data[0].transcript).toMatchObject({ id: created.id, title: 'Infra', messageCount: 2 });
      expect(data[0].transcript.messages).toBeUndefined();
      expect(data[0].matches).toEqual([
        { position: 0, snippet: 'How do I restart the Kubernetes deployment', highlights: [{ start: 21, end: 31 }] },
        { position: 1, snippet: 'How do I restart the Kubernetes deployment', highlights: [{ start: 21, end: 31 }] },
      ]);
    });

    test('happy: the last word is a prefix, case and every other word must match; each occurrence is marked', async () => {
      const { accessToken: token } = await register(app);
      const { chat } = await chatWithTurns(app, token, 'Deploy notes', ['deploy the deployment, then DEPLOY again']);
      const created = await createTranscript(app, token, { chatId: chat.id });
      const { data } = await search(token, 'DEPLO');
      expect(data.map((hit: Json) => hit.transcript.id)).toEqual([created.id]);
      // The title first, with its own mark, then the messages.
      expect(data[0].matches[0]).toEqual({ position: null, snippet: 'Deploy notes', highlights: [{ start: 0, end: 6 }] });
      expect(marked(data[0].matches[1])).toEqual(['deploy', 'deployment', 'DEPLOY']);
      expect((await search(token, 'deploy again')).data).toHaveLength(1);
      expect((await search(token, 'again deploy')).data).toHaveLength(1);
      expect((await search(token, 'deploy missingword')).data).toEqual([]);
      const both = await search(token, 'notes deploy');
      expect(marked(both.data[0].matches[0])).toEqual(['Deploy', 'notes']);
    });

    test('happy: a title match alone finds the transcript; PATCHing the title re-indexes it', async () => {
      const { accessToken: token } = await register(app);
      const { chat } = await chatWithTurns(app, token, 'Ordinary', ['nothing special here']);
      const created = await createTranscript(app, token, { chatId: chat.id, title: 'Platypus review' });
      expect((await search(token, 'platypus')).data[0].matches).toEqual([
        { position: null, snippet: 'Platypus review', highlights: [{ start: 0, end: 8 }] },
      ]);
      await expectStatus(await call(app, token, 'PATCH', `/transcripts/${created.id}`, { title: 'Echidna review' }), 200);
      expect((await search(token, 'platypus')).data).toEqual([]);
      expect((await search(token, 'echidna')).data.map((hit: Json) => hit.transcript.title)).toEqual(['Echidna review']);
    });

    test('happy: the frozen text is what is found, not the chat as it became', async () => {
      const { accessToken: token } = await register(app);
      const { chat, turns } = await chatWithTurns(app, token, 'Evolving', ['original wombat text']);
      const created = await createTranscript(app, token, { chatId: chat.id });
      await expectStatus(
        await call(app, token, 'PATCH', `/chats/${chat.id}/messages/${turns[0].userMessage.id}`, {
          content: 'edited koala text',
          stream: false,
        }),
        200,
      );
      expect((await search(token, 'wombat')).data.map((hit: Json) => hit.transcript.id)).toEqual([created.id]);
      expect((await search(token, 'koala')).data).toEqual([]);
      expect((await call(app, token, 'DELETE', `/chats/${chat.id}`)).status).toBe(204);
      expect((await search(token, 'wombat')).data.map((hit: Json) => hit.transcript.id)).toEqual([created.id]);
    });

    test('happy: a long message gives a short snippet around the hit, cut between whole words with … where text was left out', async () => {
      const { accessToken: token } = await register(app);
      const filler = (from: number, n: number) => Array.from({ length: n }, (_, i) => `filler${from + i}`).join(' ');
      const content = `${filler(0, 150)} the needlepoint is here ${filler(150, 150)}`;
      const { chat } = await chatWithTurns(app, token, undefined, [content]);
      await createTranscript(app, token, { chatId: chat.id });
      const [match] = (await search(token, 'needlepoint')).data[0].matches;
      expect(match.snippet.length).toBeLessThan(300);
      expect(match.snippet).toStartWith('…');
      expect(match.snippet).toEndWith('…');
      expect(content).toContain(withoutEllipses(match.snippet));
      expect(marked(match)).toEqual(['needlepoint']);
    });

    test('happy: snippets cut near multi-codepoint emoji keep every cluster whole, and the marks too', async () => {
      const { accessToken: token } = await register(app);
      const family = '👩‍👩‍👧‍👦';
      const keycap = '1\uFE0F\u20E3';
      const cluster = `${keycap}${family}`;
      const contents = new Map<string, string>();
      // The engines cut 7 to 10 words from the hit: clusters glued to the words on both sides, at every distance around that.
      for (let distance = 5; distance <= 12; distance++) {
        const words = Array.from({ length: 40 }, (_, i) => `w${i}`);
        words[20] = 'needle';
        words[20 + distance] = `${words[20 + distance]}${cluster}`;
        words[20 - distance] = `${cluster}${words[20 - distance]}`;
        const content = words.join(' ');
        contents.set(String(distance), content);
        const { chat } = await chatWithTurns(app, token, `d${distance}`, [content]);
        await createTranscript(app, token, { chatId: chat.id });
      }
      const { data } = await search(token, 'needle', '&limit=20');
      expect(data).toHaveLength(contents.size);
      let nearCut = 0;
      for (const hit of data) {
        const content = contents.get(hit.transcript.title.slice(1))!;
        for (const match of hit.matches) {
          const { snippet } = match;
          expect(loneSurrogate.test(snippet)).toBe(false);
          expect(snippet).not.toContain('\uFFFD');
          const core = withoutEllipses(snippet);
          expect({ snippet, whole: isClusterRun(core, content) }).toEqual({ snippet, whole: true });
          // No piece of a cluster without the rest of it.
          const rest = core.replaceAll(family, '').replaceAll(keycap, '');
          expect({ snippet, rest: /[\u200D\uFE0F\u20E3]|\p{Extended_Pictographic}/u.test(rest) }).toEqual({ snippet, rest: false });
          const boundaries = boundariesOf(snippet);
          for (const h of match.highlights) expect(boundaries.has(h.start) && boundaries.has(h.end)).toBe(true);
          expect(marked(match)).toEqual(['needle']);
          const at = content.indexOf(core);
          const edges = [
            core.slice(0, 12),
            core.slice(-12),
            content.slice(Math.max(0, at - 12), at),
            content.slice(at + core.length, at + core.length + 12),
          ];
          if (edges.some((edge) => edge.includes(family) || edge.includes(keycap))) nearCut++;
        }
      }
      // The cut really fell beside the clusters, on both sides, in several of them.
      expect(nearCut).toBeGreaterThan(4);
    });

    test('happy: pages of results with cursors, best first, at most 3 matches each', async () => {
      const { accessToken: token } = await register(app);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const { chat } = await chatWithTurns(app, token, `Mango ${i}`, ['mango', 'more mango', 'even more mango']);
        ids.push((await createTranscript(app, token, { chatId: chat.id })).id);
      }
      const first = await search(token, 'mango', '&limit=2');
      expect(first.data).toHaveLength(2);
      for (const hit of first.data) {
        expect(hit.matches).toHaveLength(3);
        expect(hit.matches[0].position).toBeNull();
      }
      const second = await search(token, 'mango', `&limit=2&cursor=${first.nextCursor}`);
      const third = await search(token, 'mango', `&limit=2&cursor=${second.nextCursor}`);
      expect(third.nextCursor).toBeNull();
      const seen = [...first.data, ...second.data, ...third.data].map((hit: Json) => hit.transcript.id);
      expect([...seen].sort()).toEqual([...ids].sort());
      await expectError(await call(app, token, 'GET', '/transcripts/search?q=mango&cursor=bogus'), 422, 'validation_error');
    });

    test('error: an empty or missing query is 422; words that are only punctuation find nothing', async () => {
      const { accessToken: token } = await register(app);
      await expectError(await call(app, token, 'GET', '/transcripts/search'), 422, 'validation_error');
      await expectError(await call(app, token, 'GET', '/transcripts/search?q='), 422, 'validation_error');
      expect((await search(token, '"*() OR NEAR')).data).toEqual([]);
      expect((await search(token, '!!!')).data).toEqual([]);
    });

    test("security: another user's transcripts are never found", async () => {
      const owner = await register(app);
      const stranger = await register(app);
      const { chat } = await chatWithTurns(app, owner.accessToken, 'Narwhal diary', ['narwhal things']);
      await createTranscript(app, owner.accessToken, { chatId: chat.id });
      expect((await search(stranger.accessToken, 'narwhal')).data).toEqual([]);
      expect((await search(owner.accessToken, 'narwhal')).data).toHaveLength(1);
    });

    if (kind.database === 'postgres') {
      test('happy: the search expressions can use their GIN indexes', async () => {
        const { db } = app.infra;
        const plan = async (statement: ReturnType<typeof sql>) => {
          const rows = await db.transaction(async (tx) => {
            await db.raw(sql`SET LOCAL enable_seqscan = off`, tx);
            return db.raw<{ 'QUERY PLAN': string }>(statement, tx);
          });
          return rows.map((row) => row['QUERY PLAN']).join('\n');
        };
        const tsq = sql`to_tsquery('simple', ${"'word':*"})`;
        expect(await plan(sql`EXPLAIN SELECT m.position FROM transcript_messages m WHERE ${transcriptMessageVector} @@ ${tsq}`)).toContain(
          'transcript_messages_content_search_idx',
        );
        expect(await plan(sql`EXPLAIN SELECT t.id FROM transcripts t WHERE ${transcriptTitleVector} @@ ${tsq}`)).toContain(
          'transcripts_title_search_idx',
        );
      });
    }
  });
}
