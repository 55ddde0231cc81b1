// A property-based sweep over every JSON route of the OpenAPI document (../shared/cases/2026-11-30-break-it.md
// F5–F11): arbitrary JSON, objects shaped like the route's schema with wrong types, huge numbers,
// deep nesting, NUL and lone surrogates, sent with a valid bearer token and path ids that exist.
// Every answer is 2xx, or a 4xx in the contract's error shape; never a 5xx. A refused body changes
// nothing the caller can see (chats, messages, keys, profile, preferences, stream events).
//
// Bounded: FUZZ_RUNS runs per route (default 20) from a fixed seed (FUZZ_SEED, default below; each
// route adds its index). A failure names the route, the seed and fast-check's path to replay it.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { type FakeSpeech, startFakeSpeech } from '../fakes/speech.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { type Account, bearer, createApiKey, createChat, expectStatus, type Json, register, sendJson, testEnv } from '../helpers/client.ts';
import { WsClient } from '../helpers/ws.ts';

const baseSeed = Number(process.env.FUZZ_SEED ?? 20261130);
const numRuns = Number(process.env.FUZZ_RUNS ?? 20);

type Schema = {
  $ref?: string;
  type?: string;
  anyOf?: Schema[];
  oneOf?: Schema[];
  const?: unknown;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  items?: Schema;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
};
type Operation = { requestBody?: { content?: Record<string, { schema?: Schema }> }; 'x-access'?: string };
type Document = { paths: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, Schema> } };

// Values are built as JS values, then written as JSON text; what JSON.stringify cannot write
// (nesting thousands deep, number literals beyond a double) goes in as a marker replaced in the text.
const marker = (kind: 'deep' | 'number', value: string) => `\u0001${kind}:${value}\u0001`;
const markerInText = /"\\u0001(deep|number):([^"\\]*)\\u0001"/g;
function toText(value: unknown): string {
  return (JSON.stringify(value) ?? 'null').replace(markerInText, (_, kind: string, spec: string) => {
    if (kind === 'number') return spec;
    const [levels, shape] = spec.split('/');
    const n = Number(levels);
    return shape === 'object' ? `${'{"a":'.repeat(n)}1${'}'.repeat(n)}` : `${'['.repeat(n)}${']'.repeat(n)}`;
  });
}

const char = (from: number, to: number) => fc.integer({ min: from, max: to }).map((code) => String.fromCharCode(code));
const nastyString = fc.oneof(
  fc.constantFrom(
    '',
    '\u0000',
    'a\u0000b',
    '\ud800',
    'lone \udc00 low',
    '\udbff\udfff',
    '\uffff',
    '\u2028\u2029',
    '__end',
    'http://',
    '+099999-01-01T00:00:00Z',
    '9999-12-31T23:59:59-05:00',
    '1e999',
    ' ',
    '../../etc/passwd',
  ),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: fc.oneof(char(0, 0x1f), char(0xd800, 0xdfff), char(0x20, 0x7e)), maxLength: 12 }),
  fc.integer({ min: 100, max: 300_000 }).map((length) => 'x'.repeat(length)),
);
const nastyNumber = fc.oneof(
  fc.constantFrom(0, -0, -1, 0.5, 1.5, 1e20, -1e20, 1e308, -1e308, 2 ** 31, 2 ** 53, 2 ** 53 + 2, 5e-324, Number.MAX_SAFE_INTEGER),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.constantFrom('1e999', '-1e999', '123456789012345678901234567890', '1E+400', '-0.0e-0').map((literal) => marker('number', literal)),
);
const deepValue = fc
  .tuple(fc.integer({ min: 60, max: 20_000 }), fc.constantFrom('array', 'object'))
  .map(([levels, shape]) => marker('deep', `${levels}/${shape}`));
const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  nastyString,
  nastyNumber,
  deepValue,
  fc.constantFrom(null, true, false, [], {}, [null], { '': null }),
  fc.jsonValue({ maxDepth: 3 }),
);

function resolve(schema: Schema, document: Document): Schema {
  if (!schema.$ref) return schema;
  return document.components?.schemas?.[schema.$ref.split('/').pop()!] ?? {};
}

/** A plausible value for a string schema: within its pattern, format and length when fast-check can make one. */
function validString(schema: Schema): fc.Arbitrary<string> {
  if (schema.format === 'date-time')
    return fc
      .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true })
      .map((date) => date.toISOString());
  const maxLength = Math.min(schema.maxLength ?? 40, 40);
  const minLength = Math.min(schema.minLength ?? 0, maxLength);
  if (schema.pattern) {
    try {
      return fc
        .stringMatching(new RegExp(schema.pattern))
        .filter((text) => text.length >= minLength && text.length <= (schema.maxLength ?? Number.POSITIVE_INFINITY));
    } catch {
      // a pattern fast-check cannot generate from (lookaheads): plain strings instead
    }
  }
  return fc.string({ minLength, maxLength });
}

/** Values shaped like `schema`: often valid, often one field of the wrong type, too big, too deep or with bad text. */
function shaped(schemaOrRef: Schema, document: Document, depth = 0): fc.Arbitrary<unknown> {
  const schema = resolve(schemaOrRef, document);
  const wrong = (right: fc.Arbitrary<unknown>) => fc.oneof({ weight: 2, arbitrary: right }, { weight: 1, arbitrary: nastyValue });
  if (depth > 4) return nastyValue;
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return fc.oneof(...alternatives.map((option) => shaped(option, document, depth + 1)));
  if (schema.const !== undefined) return wrong(fc.constant(schema.const));
  if (schema.enum) return wrong(fc.constantFrom(...schema.enum));
  switch (schema.type) {
    case 'string':
      return wrong(validString(schema));
    case 'integer':
      return wrong(fc.integer({ min: Math.max(schema.minimum ?? -1000, -(2 ** 31)), max: Math.min(schema.maximum ?? 1000, 2 ** 31) }));
    case 'number':
      return wrong(fc.double({ min: schema.minimum ?? -1000, max: schema.maximum ?? 1000, noNaN: true }));
    case 'boolean':
      return wrong(fc.boolean());
    case 'null':
      return wrong(fc.constant(null));
    case 'array':
      return wrong(fc.array(shaped(schema.items ?? {}, document, depth + 1), { maxLength: Math.min(schema.maxItems ?? 4, 4) }));
    case 'object': {
      const known = Object.entries(schema.properties ?? {}).map(([key, child]) => [key, shaped(child, document, depth + 1)] as const);
      const patterned = Object.values(schema.patternProperties ?? {})[0];
      const extra = fc.dictionary(fc.oneof(nastyString, fc.string({ maxLength: 8 })), nastyValue, { maxKeys: 2 });
      const record = known.length
        ? fc.record(Object.fromEntries(known), { requiredKeys: [] })
        : fc.dictionary(fc.string({ maxLength: 12 }), patterned ? shaped(patterned, document, depth + 1) : fc.jsonValue({ maxDepth: 2 }), {
            maxKeys: 4,
          });
      return wrong(
        fc
          .tuple(record, fc.option(extra, { freq: 4 }))
          .map(([fields, more]) => ({ ...(more ?? {}), ...(fields as Record<string, unknown>) })),
      );
    }
    default:
      return nastyValue; // unknown: any JSON
  }
}

/** A whole body as text: schema-shaped most often, else any JSON, any value, deep nesting or broken JSON. */
function bodyText(schema: Schema, document: Document): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: shaped(schema, document).map(toText) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map(toText) },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }).map(toText) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 65, max: 150_000 }), fc.constantFrom('array', 'object'))
        .map(([levels, shape]) => toText(marker('deep', `${levels}/${shape}`))),
    },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  );
}

type Route = { method: string; path: string; schema: Schema; access?: string };

for (const [name, kind] of kinds) {
  describe(`fuzzing every JSON route on ${name}`, () => {
    let app: TestApp;
    let user: Account;
    let document: Document;
    let routes: Route[];
    let ids: Record<string, string>;
    let speech: FakeSpeech | undefined;

    beforeAll(async () => {
      // No pause between the echo provider's words: accepted sends and regenerates finish at once.
      // Voice routes speak to a fake speech server, so their accepted bodies are 2xx too.
      speech = await startFakeSpeech();
      app = await createTestApp(kind, { ...testEnv, ECHO_DELAY_MS: '0', SPEECH_BASE_URL: speech.baseUrl });
      user = await register(app);
      document = (await (await app.request('/swagger/json')).json()) as Document;
      routes = Object.entries(document.paths).flatMap(([path, operations]) =>
        Object.entries(operations).flatMap(([method, operation]) => {
          const schema = operation.requestBody?.content?.['application/json']?.schema;
          return schema ? [{ method: method.toUpperCase(), path, schema, access: operation['x-access'] }] : [];
        }),
      );
      const chat = await createChat(app, user.accessToken, { title: 'fuzzed', provider: 'echo' });
      const sent = await sendJson(app, user.accessToken, chat.id, { content: 'the first question' });
      const key = await createApiKey(app, user.accessToken, { name: 'fuzzed key' });
      const stream = await expectStatus(
        await app.request('/api/v1/streams', { method: 'POST', headers: bearer(user.accessToken), json: {} }),
        201,
      );
      await expectStatus(
        await app.request(`/api/v1/streams/${stream.id}/append`, { method: 'POST', headers: bearer(user.accessToken), json: { data: 1 } }),
        202,
      );
      ids = { chat: chat.id, user: sent.userMessage.id, assistant: sent.assistantMessage.id, key: key.id, stream: stream.id };
    });
    afterAll(async () => {
      await app?.app.stop(true);
      await app?.close();
      await speech?.stop();
    });

    /** A route's path with ids of the user's own things (the assistant reply to regenerate, the question to edit). */
    const pathOf = (route: Route) =>
      route.path
        .replace('{messageId}', route.path.endsWith('/regenerate') ? ids.assistant! : ids.user!)
        .replace('{id}', route.path.startsWith('/api/v1/streams') ? ids.stream! : route.path.includes('api-keys') ? ids.key! : ids.chat!);

    /** Everything of the user's that a body could change. */
    async function snapshot(): Promise<Json> {
      const get = async (path: string, headers: Record<string, string> = {}) => {
        const response = await app.request(path, { headers: { ...bearer(user.accessToken), ...headers } });
        return { status: response.status, body: await response.json() };
      };
      // Read at once: none of them changes anything.
      const [chat, chats, keys, me, stream] = await Promise.all([
        get(`/api/v1/chats/${ids.chat}`),
        get('/api/v1/chats?limit=100'),
        get('/api/v1/auth/api-keys?limit=100'),
        get('/api/v1/users/me'),
        get(`/api/v1/streams/${ids.stream}`, { accept: 'application/json' }),
      ]);
      return { chat, chats, keys, me, stream };
    }

    /** Waits for replies started by an accepted body to be stored before the next snapshot. */
    async function settled(): Promise<void> {
      for (let i = 0; i < 200 && app.services.replies.activeCount() > 0; i++) await Bun.sleep(5);
    }

    test('the sweep covers the JSON routes of the document', () => {
      const covered = routes.map((route) => `${route.method} ${route.path}`);
      expect(covered).toEqual(
        expect.arrayContaining([
          'POST /api/v1/auth/login',
          'POST /api/v1/auth/register',
          'POST /api/v1/auth/api-keys',
          'PATCH /api/v1/users/me',
          'PATCH /api/v1/users/me/preferences',
          'POST /api/v1/chats',
          'PATCH /api/v1/chats/{id}',
          'POST /api/v1/chats/{id}/messages',
          'PATCH /api/v1/chats/{id}/messages/{messageId}',
          'POST /api/v1/streams/{id}/append',
          'POST /v1/chat/completions',
          'POST /v1/messages',
          'POST /v1/messages/count_tokens',
          'POST /v1/responses',
        ]),
      );
      expect(routes.length).toBeGreaterThan(20);
    });

    test('security: every body on every JSON route answers 2xx or a 4xx in the error shape (OpenAI’s on /v1, Anthropic’s on /v1/messages), never 5xx; refused bodies change nothing', async () => {
      let before = await snapshot();
      const failures: string[] = [];
      for (const [index, route] of routes.entries()) {
        const seed = baseSeed + index;
        const property = fc.asyncProperty(bodyText(route.schema, document), async (text) => {
          const response = await app.request(pathOf(route), {
            method: route.method,
            headers: { ...bearer(user.accessToken), 'content-type': 'application/json' },
            body: text,
          });
          const answer = await response.text(); // an SSE reply is read to its end
          const shown = `${route.method} ${route.path} ${text.slice(0, 300)} → ${response.status} ${answer.slice(0, 300)}`;
          if (response.status >= 200 && response.status < 300) {
            await settled();
            before = await snapshot();
            return;
          }
          if (response.status < 400 || response.status >= 500) throw new Error(`not 2xx or 4xx: ${shown}`);
          let error: Json;
          try {
            error = JSON.parse(answer).error;
          } catch {
            throw new Error(`a 4xx that is not JSON: ${shown}`);
          }
          // The OpenAI-compatible routes answer in OpenAI's shape, the Anthropic-compatible ones in
          // Anthropic's (both with the request id only in X-Request-Id).
          const anthropic = route.path.startsWith('/v1/messages');
          const openAi = route.path.startsWith('/v1/') && !anthropic;
          const shaped = anthropic
            ? JSON.parse(answer).type === 'error' &&
              typeof error?.type === 'string' &&
              typeof error.message === 'string' &&
              error.message.length > 0 &&
              response.headers.get('x-request-id') !== null
            : openAi
              ? typeof error?.type === 'string' &&
                typeof error.message === 'string' &&
                error.message.length > 0 &&
                'param' in error &&
                'code' in error &&
                response.headers.get('x-request-id') !== null
              : typeof error?.code === 'string' &&
                typeof error.message === 'string' &&
                error.message.length > 0 &&
                error.requestId === response.headers.get('x-request-id');
          if (!shaped) throw new Error(`a 4xx outside the error shape: ${shown}`);
          const after = await snapshot();
          if (!Bun.deepEquals(after, before)) throw new Error(`a refused body changed something: ${shown}`);
        });
        try {
          await fc.assert(property, { seed, numRuns, endOnFailure: true });
        } catch (failure) {
          failures.push(`${route.method} ${route.path} (seed ${seed}): ${(failure as Error).message.slice(0, 1500)}`);
          before = await snapshot();
        }
      }
      expect(failures).toEqual([]);
    }, 60_000);

    test('security: websocket frames shaped like chat.send and chat.cancel, with the same bad values, are answered, never with internal_error; refused ones store nothing', async () => {
      app.app.listen({ port: 0, hostname: '127.0.0.1' });
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'echo' });
      const socket = await WsClient.ready(`ws://127.0.0.1:${app.app.server!.port}/api/v1/ws`, account.accessToken);
      const messages = async () =>
        (
          await expectStatus(
            await app.request(`/api/v1/chats/${chat.id}/messages?limit=100`, { headers: bearer(account.accessToken) }),
            200,
          )
        ).data;
      // A frame is the body of POST /chats/:id/messages with `type` and `chatId` beside it (see src/modules/realtime/hub.ts).
      const sendBody = document.paths['/api/v1/chats/{id}/messages']!.post!.requestBody!.content!['application/json']!.schema!;
      const asFields = (value: unknown) => (value && typeof value === 'object' && !Array.isArray(value) ? value : { content: value });
      const frames = fc.oneof(
        { weight: 3, arbitrary: shaped(sendBody, document).map((body) => ({ ...asFields(body), type: 'chat.send', chatId: chat.id })) },
        { weight: 1, arbitrary: nastyValue.map((chatId) => ({ type: 'chat.send', chatId, content: 'hello' })) },
        { weight: 1, arbitrary: nastyValue.map((messageId) => ({ type: 'chat.cancel', messageId })) },
      );
      let count = 0;
      let before = await messages();
      const seed = baseSeed + routes.length;
      const property = fc.asyncProperty(frames, async (frame) => {
        const requestId = `fuzz-${count++}`;
        const text = toText({ ...frame, requestId });
        fc.pre(text.length < 200_000); // frames are limited to 256 KiB: a larger one closes the socket (tested in tests/realtime)
        const from = socket.frames.length;
        socket.send(text);
        const shown = `${text.slice(0, 300)} → ${JSON.stringify(socket.frames.slice(from)).slice(0, 600)}`;
        const answer = await socket.waitFor(
          // An internal_error frame names no request: any one ends the wait.
          (f) => (f.requestId === requestId && ['error', 'done', 'chat.cancelling'].includes(f.type)) || f.code === 'internal_error',
          `the answer to ${requestId}`,
          10_000,
          from,
        );
        if (socket.frames.slice(from).some((f) => f.code === 'internal_error')) throw new Error(`internal_error: ${shown}`);
        if (!socket.isOpen) throw new Error(`the socket closed: ${shown}`);
        if (answer.type !== 'error') {
          await settled();
          before = await messages();
          return;
        }
        if (typeof answer.code !== 'string' || typeof answer.message !== 'string') throw new Error(`an error frame out of shape: ${shown}`);
        if (!Bun.deepEquals(await messages(), before)) throw new Error(`a refused frame stored something: ${shown}`);
      });
      try {
        await fc.assert(property, { seed, numRuns: numRuns * 2, endOnFailure: true });
      } finally {
        socket.ws.close();
      }
    }, 60_000);
  });
}
