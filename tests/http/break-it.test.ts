// The reproductions of ../shared/cases/2026-11-30-break-it.md F5–F11, each asserting the answer the
// case asks for, on every storage kind (the same answer on SQLite and on Postgres, and nothing
// stored by a refused request). The app listens on a real port: chunked bodies and websockets are
// sent as a client sends them. F15 (Bun's own refusals) is in server-limits.test.ts.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { maxJsonDepth } from '../../src/http/input-check.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  type Account,
  bearer,
  createChat,
  expectError,
  expectStatus,
  type Http,
  httpOfUrl,
  type Json,
  register,
  sendJson,
  testEnv,
} from '../helpers/client.ts';
import { expectOpenAiError } from '../helpers/openai.ts';
import { readSse } from '../helpers/sse.ts';
import { WsClient } from '../helpers/ws.ts';

const MiB = 1024 * 1024;
const nested = (levels: number, open = '[', close = ']', inner = '') => open.repeat(levels) + inner + close.repeat(levels);

/** A 4xx in the contract's shape whose first detail names `field`. */
async function expectField(response: Response, status: number, code: string, field: string): Promise<Json> {
  const body = await expectError(response, status, code);
  expect(body.error.requestId).toBe(response.headers.get('x-request-id'));
  expect(body.error.details?.[0]?.field).toBe(field);
  return body;
}

/** A body that arrives in pieces: fetch sends it with Transfer-Encoding: chunked and no Content-Length. */
function chunked(text: string, pieceBytes = 64 * 1024): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + pieceBytes));
      offset += pieceBytes;
    },
  });
}

for (const [name, kind] of kinds) {
  describe(`break-it reproductions on ${name}`, () => {
    let app: TestApp;
    let base: string;
    let http: Http;
    let user: Account;
    const sockets: WsClient[] = [];

    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
      app.app.listen({ port: 0, hostname: '127.0.0.1' });
      base = `http://127.0.0.1:${app.app.server!.port}`;
      http = httpOfUrl(base);
      user = await register(http);
    });
    afterAll(async () => {
      for (const socket of sockets) socket.ws.close();
      await app?.app.stop(true);
      await app?.close();
    });

    const as = (account: Account, extra: Record<string, string> = {}) => ({ ...bearer(account.accessToken), ...extra });
    const post = (path: string, body: string, headers: Record<string, string> = {}, method = 'POST') =>
      http(path, { method, headers: { 'content-type': 'application/json', ...headers }, body });
    const listOf = async (account: Account, path: string) => (await expectStatus(await http(path, { headers: as(account) }), 200)).data;
    const chatsOf = (account: Account) => listOf(account, '/api/v1/chats?limit=100');
    const keysOf = (account: Account) => listOf(account, '/api/v1/auth/api-keys?limit=100');
    const profileOf = async (account: Account) => expectStatus(await http('/api/v1/users/me', { headers: as(account) }), 200);
    const messagesOf = (account: Account, chatId: string) => listOf(account, `/api/v1/chats/${chatId}/messages?limit=100`);
    const newStream = async (account: Account) =>
      (await expectStatus(await http('/api/v1/streams', { method: 'POST', headers: as(account), json: {} }), 201)).id as string;
    const dumpOf = async (account: Account, id: string) =>
      expectStatus(await http(`/api/v1/streams/${id}`, { headers: as(account, { accept: 'application/json' }) }), 200);

    describe('F5: deeply nested JSON', () => {
      test('error: a 200 KB array nested 100,000 deep on unauthenticated /auth/login is 422 validation_error, not 500', async () => {
        const response = await post('/api/v1/auth/login', nested(100_000));
        const body = await expectField(response, 422, 'validation_error', 'body');
        expect(body.error.details[0].message).toContain(`${maxJsonDepth} levels`);
      });

      test('error: a title nested 10,000 deep on POST /chats is 422, and no chat is stored', async () => {
        const account = await register(http);
        const response = await post('/api/v1/chats', `{"title":${nested(10_000)}}`, as(account));
        // Refused as the bytes arrive, before parsing: the body is named, not the field.
        await expectField(response, 422, 'validation_error', 'body');
        expect(await chatsOf(account)).toEqual([]);
      });

      test('error: up to 1 MiB nested to any depth is 400/422 on every JSON route, with a token or without, and stores nothing', async () => {
        const account = await register(http);
        const document = (await (await http('/swagger/json')).json()) as {
          paths: Record<string, Record<string, { requestBody?: { content?: Record<string, unknown> } }>>;
        };
        const chat = await createChat(http, account.accessToken);
        const stream = await newStream(account);
        const bodies = [nested(500_000), nested(150_000, '{"a":', '}', '1'), `{"content":${nested(300_000)}}`];
        for (const body of bodies) expect(body.length).toBeLessThanOrEqual(MiB);
        const wrong: string[] = [];
        let routes = 0;
        for (const [path, operations] of Object.entries(document.paths)) {
          for (const [method, operation] of Object.entries(operations)) {
            if (!operation.requestBody?.content?.['application/json']) continue;
            const url = path.replace('{messageId}', 'm').replace('{id}', path.startsWith('/api/v1/streams') ? stream : chat.id);
            // Each route gets one of the bodies (in turn), with the token and without.
            const body = bodies[routes++ % bodies.length]!;
            for (const headers of [as(account), {}] as Record<string, string>[]) {
              const response = await post(url, body, headers, method.toUpperCase());
              const answer = (await response.json()) as Json;
              // The OpenAI- and Anthropic-compatible routes say it in their API's words (400 invalid_request_error).
              const imitated = path.startsWith('/v1/');
              const said = imitated ? answer.error?.type : answer.error?.code;
              if (
                ![400, 422].includes(response.status) ||
                !(imitated ? ['invalid_request_error'] : ['invalid_json', 'validation_error']).includes(said)
              )
                wrong.push(`${method} ${path} ${headers.authorization ? 'with' : 'without'} a token → ${response.status}`);
            }
          }
        }
        expect(routes).toBeGreaterThan(20);
        expect(wrong).toEqual([]);
        expect((await chatsOf(account)).length).toBe(1);
        expect(await messagesOf(account, chat.id)).toEqual([]);
        expect((await dumpOf(account, stream)).events).toEqual([]);
        expect((await profileOf(account)).preferences).toEqual({});
      });

      test(`happy: ${maxJsonDepth} levels of nesting are stored and read back; error: ${maxJsonDepth + 1} is 422`, async () => {
        const account = await register(http);
        // The body is the first level; "deep" holds the other 63.
        const deepest = JSON.parse(nested(maxJsonDepth - 1, '[', ']', '"bottom"'));
        const kept = await expectStatus(
          await http('/api/v1/users/me/preferences', { method: 'PATCH', headers: as(account), json: { deep: deepest } }),
          200,
        );
        expect(kept.preferences.deep).toEqual(deepest);
        await expectField(
          await post('/api/v1/users/me/preferences', `{"deeper":${nested(maxJsonDepth, '[', ']', '"bottom"')}}`, as(account), 'PATCH'),
          422,
          'validation_error',
          'body',
        );
        expect((await profileOf(account)).preferences).toEqual({ deep: deepest });
      });
    });

    describe('F6: other inputs that produced 500', () => {
      test('error: days=1000000000 (and 0, 367) on /users/me/usage is 422 query.days', async () => {
        for (const days of ['1000000000', '0', '367']) {
          await expectField(
            await http(`/api/v1/users/me/usage?days=${days}`, { headers: as(user) }),
            422,
            'validation_error',
            'query.days',
          );
        }
      });

      test('error: a cursor whose time is out of range is 422 query.cursor; happy: a cursor in range is taken', async () => {
        const cursor = (key: unknown) => Buffer.from(JSON.stringify(key)).toString('base64url');
        const ids = [
          [false, 1e20, 'z'],
          [false, -1, 'z'],
          [false, 1.5, 'z'],
          [true, Date.UTC(10000, 0, 1), 'z'],
          [false, 2 ** 53, 'z'],
        ];
        for (const key of ids) {
          const response = await http(`/api/v1/chats?cursor=${cursor(key)}`, { headers: as(user) });
          await expectField(response, 422, 'validation_error', 'query.cursor');
        }
        // The case's own reproduction, built as the shell builds it.
        const shell = btoa('[false,1e20,"z"]').replaceAll('+', '-').replaceAll('/', '_').replaceAll('=', '');
        await expectField(await http(`/api/v1/chats?cursor=${shell}`, { headers: as(user) }), 422, 'validation_error', 'query.cursor');
        const inRange = await http(`/api/v1/chats?cursor=${cursor([false, Date.now(), 'z'])}`, { headers: as(user) });
        expect((await expectStatus(inRange, 200)).data).toEqual([]);
      });

      test('error: an expiresAt beyond year 9999 (or not RFC 3339) is 422 body.expiresAt; happy: 9999-12-31 is the same success on both databases', async () => {
        const account = await register(http);
        for (const expiresAt of [
          '+099999-01-01T00:00:00Z',
          '+010000-01-01T00:00:00Z',
          '9999-12-31T23:00:00-05:00',
          'Mon Nov 30 2099 10:00:00 GMT+0000 (Coordinated Universal Time)',
          '2099-01-01',
        ]) {
          const response = await http('/api/v1/auth/api-keys', { method: 'POST', headers: as(account), json: { name: 'y', expiresAt } });
          await expectField(response, 422, 'validation_error', 'body.expiresAt');
        }
        expect(await keysOf(account)).toEqual([]);
        const created = await http('/api/v1/auth/api-keys', {
          method: 'POST',
          headers: as(account),
          json: { name: 'far', expiresAt: '9999-12-31T23:59:59Z' },
        });
        expect((await expectStatus(created, 201)).expiresAt).toBe('9999-12-31T23:59:59.000Z');
        expect((await keysOf(account)).map((key: { expiresAt: string }) => key.expiresAt)).toEqual(['9999-12-31T23:59:59.000Z']);
      });

      test('error: a lone surrogate in preferences (value or key) or in a title is 422 naming the field, and nothing is stored', async () => {
        const account = await register(http);
        await expectStatus(
          await http('/api/v1/users/me/preferences', { method: 'PATCH', headers: as(account), json: { theme: 'dark' } }),
          200,
        );
        // The case's body, byte for byte: JSON escapes, as curl sends them.
        const cases: [string, string, string, string][] = [
          ['PATCH', '/api/v1/users/me/preferences', '{"a":"\\ud800"}', 'body.a'],
          ['PATCH', '/api/v1/users/me/preferences', '{"b":["ok","x\\udc00y"]}', 'body.b.1'],
          ['PATCH', '/api/v1/users/me/preferences', '{"\\ud800":"x"}', 'body.\ufffd'],
          ['POST', '/api/v1/chats', '{"title":"a\\ud800b"}', 'body.title'],
        ];
        for (const [method, path, body, field] of cases) {
          const answer = await expectField(await post(path, body, as(account), method), 422, 'validation_error', field);
          expect(answer.error.details[0].message).toContain('lone UTF-16 surrogate');
        }
        expect((await profileOf(account)).preferences).toEqual({ theme: 'dark' });
        expect(await chatsOf(account)).toEqual([]);
        // A surrogate pair (an emoji) is text like any other.
        const emoji = await http('/api/v1/users/me/preferences', { method: 'PATCH', headers: as(account), json: { mood: '\ud83d\ude00' } });
        expect((await expectStatus(emoji, 200)).preferences.mood).toBe('😀');
      });

      test('error: NUL or a lone surrogate over the websocket is a validation_error frame naming the field, nothing is stored, the socket stays open', async () => {
        const account = await register(http);
        const chat = await createChat(http, account.accessToken, { provider: 'echo' });
        const socket = await WsClient.ready(`${base.replace('http', 'ws')}/api/v1/ws`, account.accessToken);
        sockets.push(socket);
        const frames: [Record<string, unknown>, string][] = [
          [{ type: 'chat.send', chatId: chat.id, content: 'a\u0000b' }, 'frame.content'],
          [{ type: 'chat.send', chatId: `${chat.id}\u0000`, content: 'hello' }, 'frame.chatId'],
          [{ type: 'chat.cancel', messageId: 'm\u0000' }, 'frame.messageId'],
          [{ type: 'chat.send', chatId: chat.id, content: 'lone \ud800' }, 'frame.content'],
          [{ type: 'chat.send', chatId: chat.id, content: 'x', model: { deep: JSON.parse(nested(200)) } }, 'frame.model'],
        ];
        for (const [index, [frame, field]] of frames.entries()) {
          const requestId = `unfit-${index}`;
          const from = socket.frames.length;
          socket.send({ ...frame, requestId });
          const error = await socket.waitFor((f) => f.requestId === requestId, `the answer to ${field}`, 5000, from);
          expect({ type: error.type, code: error.code, field: error.details?.[0]?.field }).toEqual({
            type: 'error',
            code: 'validation_error',
            field,
          });
          expect(error.message).toContain(field);
        }
        expect(socket.frames.some((f) => f.code === 'internal_error')).toBe(false);
        expect(socket.isOpen).toBe(true);
        expect(await messagesOf(account, chat.id)).toEqual([]);
        // The same socket still sends a fit message.
        socket.send({ type: 'chat.send', chatId: chat.id, content: 'fit words', requestId: 'fit' });
        const done = await socket.waitFor((f) => f.requestId === 'fit' && (f.type === 'done' || f.type === 'error'), 'the reply', 10_000);
        expect(done.type).toBe('done');
      });
    });

    describe('F6 (the same kind): event ids past what a stream id holds', () => {
      test('error: an after id or Last-Event-ID beyond 64-bit parts is 422 naming where it came from (Redis refused it with an error)', async () => {
        const account = await register(http);
        const stream = await newStream(account);
        await expectStatus(
          await http(`/api/v1/streams/${stream}/append`, { method: 'POST', headers: as(account), json: { data: 1 } }),
          202,
        );
        for (const id of ['18446744073709551616-0', '0-18446744073709551616', '99999999999999999999999-0']) {
          await expectField(
            await http(`/api/v1/streams/${stream}?after=${id}`, { headers: as(account) }),
            422,
            'validation_error',
            'query.after',
          );
          const viaHeader = await http(`/api/v1/streams/${stream}`, { headers: as(account, { 'last-event-id': id }) });
          await expectField(viaHeader, 422, 'validation_error', 'header.last-event-id');
        }
        const chat = await createChat(http, account.accessToken, { provider: 'echo' });
        const resend = await http(`/api/v1/chats/${chat.id}/messages`, {
          method: 'POST',
          headers: as(account, { 'idempotency-key': 'resume-1', 'last-event-id': '18446744073709551616-0' }),
          json: { content: 'hello', stream: false },
        });
        await expectField(resend, 422, 'validation_error', 'header.last-event-id');
        expect(await messagesOf(account, chat.id)).toEqual([]);
        // The largest id in form is taken: the buffer is simply read after it.
        const dump = await http(`/api/v1/streams/${stream}`, {
          headers: as(account, { accept: 'application/json', 'last-event-id': '18446744073709551615-18446744073709551615' }),
        });
        expect((await expectStatus(dump, 200)).events).toHaveLength(1);
      });
    });

    describe('F7: query integer ranges', () => {
      test('error: limit=1000000000 and limit=-1 are 422 query.limit on every list route; days=0 is 422 query.days', async () => {
        const account = await register(http);
        const chat = await createChat(http, account.accessToken);
        const lists = [
          '/api/v1/chats',
          `/api/v1/chats/${chat.id}/messages`,
          '/api/v1/chats/featured',
          '/api/v1/chats/search?q=x',
          '/api/v1/auth/sessions',
          '/api/v1/auth/api-keys',
        ];
        for (const list of lists) {
          for (const limit of ['1000000000', '-1']) {
            const url = `${list}${list.includes('?') ? '&' : '?'}limit=${limit}`;
            await expectField(await http(url, { headers: as(account) }), 422, 'validation_error', 'query.limit');
          }
        }
        await expectField(await http('/api/v1/users/me/usage?days=0', { headers: as(account) }), 422, 'validation_error', 'query.days');
      });
    });

    describe('F8: the JSON cap whatever the framing', () => {
      for (const framing of ['content-length', 'chunked'] as const) {
        test(`error: a 4 MiB append is 413 payload_too_large (${framing}) and nothing is stored`, async () => {
          const account = await register(http);
          const stream = await newStream(account);
          const text = JSON.stringify({ event: 'big', data: 'y'.repeat(4 * MiB) });
          const response = await fetch(`${base}/api/v1/streams/${stream}/append`, {
            method: 'POST',
            headers: as(account, { 'content-type': 'application/json' }),
            body: framing === 'chunked' ? chunked(text) : text,
            duplex: 'half',
          } as RequestInit);
          await expectError(response, 413, 'payload_too_large');
          expect((await dumpOf(account, stream)).events).toEqual([]);
        });
      }
    });

    describe('F9: JSON routes take only JSON', () => {
      test('error: multipart, form, text, json-seq and UTF-16 bodies are 415 on PATCH /chats/:id, POST /chats and PATCH preferences; nothing changes', async () => {
        const account = await register(http);
        const chat = await createChat(http, account.accessToken, { title: 'kept' });
        const form = () => {
          const data = new FormData();
          data.set('title', 'via-multipart');
          return data;
        };
        const attempts: [string, string, () => RequestInit][] = [];
        for (const [method, path] of [
          ['PATCH', `/api/v1/chats/${chat.id}`],
          ['POST', '/api/v1/chats'],
          ['PATCH', '/api/v1/users/me/preferences'],
        ] as const) {
          attempts.push(
            [method, path, () => ({ body: form() })],
            [method, path, () => ({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'title=via-form' })],
            [method, path, () => ({ headers: { 'content-type': 'text/plain' }, body: '{"title":"via-text"}' })],
            [method, path, () => ({ headers: { 'content-type': 'application/json-seq' }, body: '\u001e{"title":"via-seq"}\n' })],
            [method, path, () => ({ headers: { 'content-type': 'application/json; charset=utf-16' }, body: '{"title":"via-utf16"}' })],
            [method, path, () => ({ headers: { 'content-type': 'application/jsonx' }, body: '{"title":"via-jsonx"}' })],
          );
        }
        for (const [method, path, init] of attempts) {
          const request = init();
          const response = await http(path, {
            method,
            ...request,
            headers: { ...as(account), ...(request.headers as Record<string, string>) },
          });
          await expectError(response, 415, 'unsupported_media_type');
        }
        expect((await chatsOf(account)).map((c: { title: string }) => c.title)).toEqual(['kept']);
        expect((await profileOf(account)).preferences).toEqual({});
      });

      test('happy: application/json with a UTF-8 charset, any case, and +json types are taken as JSON; error: a broken +json body is 400', async () => {
        const account = await register(http);
        const chat = await createChat(http, account.accessToken, { title: 'before' });
        for (const type of [
          'application/json;charset=utf-8',
          'Application/JSON; charset="UTF-8"',
          'application/vnd.api+json',
          'application/merge-patch+json',
        ]) {
          const response = await post(
            `/api/v1/chats/${chat.id}`,
            JSON.stringify({ title: type }),
            as(account, { 'content-type': type }),
            'PATCH',
          );
          expect((await expectStatus(response, 200)).title).toBe(type);
        }
        const broken = await post(
          `/api/v1/chats/${chat.id}`,
          '{"title":',
          as(account, { 'content-type': 'application/merge-patch+json' }),
          'PATCH',
        );
        await expectError(broken, 400, 'invalid_json');
        const unfit = await post(
          `/api/v1/chats/${chat.id}`,
          '{"title":"a\\u0000"}',
          as(account, { 'content-type': 'application/vnd.api+json' }),
          'PATCH',
        );
        await expectField(unfit, 422, 'validation_error', 'body.title');
      });
    });

    describe('F10: every schema limit on every shape of a field', () => {
      test('error: a preferences key of 150 characters is 422 naming it; happy: 100 characters is taken', async () => {
        const account = await register(http);
        const long = 'k'.repeat(150);
        const refused = await http('/api/v1/users/me/preferences', { method: 'PATCH', headers: as(account), json: { [long]: 1 } });
        await expectField(refused, 422, 'validation_error', `body.${long}`);
        const taken = await http('/api/v1/users/me/preferences', { method: 'PATCH', headers: as(account), json: { ['k'.repeat(100)]: 1 } });
        expect(Object.keys((await expectStatus(taken, 200)).preferences)).toEqual(['k'.repeat(100)]);
      });

      test('error: content parts over 100,000 characters (one part, or parts together) are OpenAI’s 400 naming the message on /v1/chat/completions', async () => {
        const completion = (content: unknown) =>
          http('/v1/chat/completions', {
            method: 'POST',
            headers: as(user),
            json: { model: 'echo', messages: [{ role: 'user', content }] },
          });
        // One part over the limit fails the message's schema; parts together, the joined text's check.
        await expectOpenAiError(await completion([{ type: 'text', text: 'x'.repeat(900_000) }]), 400, 'invalid_request_error', {
          param: 'messages[0]',
        });
        const joined = [
          { type: 'text', text: 'x'.repeat(60_000) },
          { type: 'text', text: 'y'.repeat(60_000) },
        ];
        await expectOpenAiError(await completion(joined), 400, 'invalid_request_error', { param: 'messages[0].content' });
        await expectOpenAiError(await completion('z'.repeat(100_001)), 400, 'invalid_request_error', { param: 'messages[0]' });
        const within = await completion([
          { type: 'text', text: 'within ' },
          { type: 'text', text: 'the limit' },
        ]);
        expect((await expectStatus(within, 200)).choices[0].message.content).toBe('within the limit');
      });

      test('error: avatarUrl "http://" (no host) is 422 body.avatarUrl; happy: a URL with a host is taken', async () => {
        const account = await register(http);
        for (const avatarUrl of ['http://', 'https://', 'http:///a.png', 'http://a b/c.png']) {
          const response = await http('/api/v1/users/me', { method: 'PATCH', headers: as(account), json: { avatarUrl } });
          await expectField(response, 422, 'validation_error', 'body.avatarUrl');
        }
        expect((await profileOf(account)).avatarUrl).toBeNull();
        const taken = await http('/api/v1/users/me', {
          method: 'PATCH',
          headers: as(account),
          json: { avatarUrl: 'http://a.example/x.png' },
        });
        expect((await expectStatus(taken, 200)).avatarUrl).toBe('http://a.example/x.png');
      });
    });

    describe('F10: limits in the document', () => {
      test('security: every string the API takes has a maxLength, every number a range, every array a maxItems, in every shape it can take', async () => {
        type Schema = Record<string, unknown> & { properties?: Record<string, Schema>; patternProperties?: Record<string, Schema> };
        const document = (await (await http('/swagger/json')).json()) as {
          paths: Record<
            string,
            Record<
              string,
              {
                requestBody?: { content?: Record<string, { schema: Schema }> };
                parameters?: { in: string; name: string; schema: Schema }[];
              }
            >
          >;
        };
        const gaps: string[] = [];
        const walk = (schema: Schema | undefined, at: string): void => {
          if (!schema || typeof schema !== 'object') return;
          for (const key of ['anyOf', 'oneOf', 'allOf'])
            for (const [i, option] of ((schema[key] as Schema[] | undefined) ?? []).entries()) walk(option, `${at}|${i}`);
          const fixed = schema.enum !== undefined || schema.const !== undefined;
          if (schema.type === 'string' && schema.maxLength === undefined && !fixed) gaps.push(`${at}: a string without maxLength`);
          if (
            (schema.type === 'number' || schema.type === 'integer') &&
            (schema.minimum === undefined || schema.maximum === undefined) &&
            !fixed
          )
            gaps.push(`${at}: a number without a range`);
          if (schema.type === 'array') {
            if (schema.maxItems === undefined) gaps.push(`${at}: an array without maxItems`);
            walk(schema.items as Schema, `${at}[]`);
          }
          for (const [key, child] of Object.entries(schema.properties ?? {})) walk(child, `${at}.${key}`);
          for (const [pattern, child] of Object.entries(schema.patternProperties ?? {})) {
            if (schema.additionalProperties !== false) gaps.push(`${at}: keys outside ${pattern} are let through`);
            walk(child, `${at}.<${pattern}>`);
          }
        };
        for (const [path, operations] of Object.entries(document.paths)) {
          for (const [method, operation] of Object.entries(operations)) {
            walk(operation.requestBody?.content?.['application/json']?.schema, `${method} ${path} body`);
            for (const parameter of operation.parameters ?? []) {
              // Its limit (1–255 printable ASCII) is checked in src/http/idempotency.ts, which names the field itself.
              if (parameter.name === 'idempotency-key') continue;
              walk(parameter.schema, `${method} ${path} ${parameter.in}.${parameter.name}`);
            }
          }
        }
        expect(gaps).toEqual([]);
      });
    });

    describe('F11: reserved stream event names', () => {
      test('error: "__end" (and any "__" name) is 422 body.event; the stream stays open and later events are delivered', async () => {
        const account = await register(http);
        const stream = await newStream(account);
        const append = (body: unknown) => http(`/api/v1/streams/${stream}/append`, { method: 'POST', headers: as(account), json: body });
        await expectStatus(await append({ event: 'a', data: 1 }), 202);
        await expectField(await append({ event: '__end', data: 2 }), 422, 'validation_error', 'body.event');
        await expectField(await append({ event: '__internal', data: 2 }), 422, 'validation_error', 'body.event');
        await expectStatus(await append({ event: 'b', data: 3 }), 202);
        await expectStatus(await append({ event: 'end_', data: 4 }), 202);
        const dump = await dumpOf(account, stream);
        expect(dump.closed).toBe(false);
        expect(dump.events.map((event: { event: string; data: unknown }) => [event.event, event.data])).toEqual([
          ['a', 1],
          ['b', 3],
          ['end_', 4],
        ]);
        await expectStatus(await http(`/api/v1/streams/${stream}/close`, { method: 'POST', headers: as(account) }), 200);
        const sse = await readSse(await http(`/api/v1/streams/${stream}`, { headers: as(account) }));
        expect(sse.ended).toBe(true);
        expect(sse.events.map((event) => event.event)).toEqual(['a', 'b', 'end_']);
      });
    });

    test('happy: after every refusal above, the server still answers as before', async () => {
      const chat = await createChat(http, user.accessToken, { provider: 'echo' });
      const sent = await sendJson(http, user.accessToken, chat.id, { content: 'still here' });
      expect(sent.assistantMessage.content).toBe('still here');
    });
  });
}
