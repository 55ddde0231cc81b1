// The OpenAPI document (/swagger/json) is valid and complete: two validators accept it
// (@apidevtools/swagger-parser, and `redocly lint` with its recommended rules, offline), every
// operation lists the errors it can answer with the shared ErrorBody schema, public operations say
// `security: []`, integers are integers, only content types the server takes are advertised; and
// a client generated from it by openapi-typescript type-checks (and runs) register → login →
// create chat → send message, while the same program fails to type-check against a document whose
// register body lost `email`.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEnv } from '../helpers/client.ts';

type Json = Record<string, unknown>;
type Schema = Json & { $ref?: string; type?: unknown; format?: string; properties?: Record<string, Schema>; required?: string[] };
type Response = { $ref?: string; description?: string; content?: Record<string, { schema?: Schema }> };
type Operation = {
  operationId?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: { in: string; name: string; schema?: Schema }[];
  requestBody?: { content: Record<string, { schema?: Schema }> };
  responses?: Record<string, Response>;
  'x-access'?: string;
};
type Document = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  tags?: { name: string }[];
  components: { schemas: Record<string, Schema>; responses: Record<string, Response> };
};
type Route = { method: string; path: string; operation: Operation };

const repo = resolve(import.meta.dir, '../..');
const bin = (name: string) => join(repo, 'node_modules/.bin', name);
const generatedRoot = join(import.meta.dir, '.generated');
const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const errorBodyRef = '#/components/schemas/ErrorBody';
/** The OpenAI-compatible routes answer errors in OpenAI's shape. */
const openAiErrorRef = '#/components/schemas/OpenAiError';
const anthropicErrorRef = '#/components/schemas/AnthropicError';
/** Liveness and metrics answer nothing but 200 (or 503 for the detailed check, with its own body). */
const noClientErrors = ['get /health', 'get /metrics', 'get /api/v1/health/detailed'];

async function run(cmd: string[], env: Record<string, string> = {}) {
  const child = Bun.spawn(cmd, { cwd: repo, stdout: 'pipe', stderr: 'pipe', env: { ...process.env, NO_COLOR: '1', ...env } });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { stdout, stderr, exitCode };
}

describe('the OpenAPI document', () => {
  let app: TestApp;
  let doc: Document;
  let routes: Route[];
  let workDir: string;

  beforeAll(async () => {
    app = await createTestApp(undefined, testEnv);
    const response = await app.request('/swagger/json');
    expect(response.status).toBe(200);
    doc = (await response.json()) as Document;
    routes = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => methods.includes(method))
        .map(([method, operation]) => ({ method, path, operation })),
    );
    mkdirSync(generatedRoot, { recursive: true });
    workDir = mkdtempSync(join(generatedRoot, 'run-'));
  });
  afterAll(async () => {
    await app.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  const name = (route: Route) => `${route.method} ${route.path}`;
  const resolveResponse = (response: Response): Response =>
    response.$ref ? (doc.components.responses[response.$ref.replace('#/components/responses/', '')] ?? {}) : response;

  test('happy: swagger-parser validates it', async () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    await SwaggerParser.validate(structuredClone(doc) as never);
  });

  test('happy: redocly lint (recommended rules, offline) reports no errors', async () => {
    const file = join(workDir, 'openapi.json');
    await Bun.write(file, JSON.stringify(doc, null, 2));
    const { stdout, stderr, exitCode } = await run(
      [bin('redocly'), 'lint', '--config', join(import.meta.dir, 'redocly.yaml'), '--format', 'json', file],
      { REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    );
    if (exitCode !== 0) console.error(stdout.slice(0, 4000), stderr.slice(-2000));
    const report = JSON.parse(stdout) as {
      totals: { errors: number; warnings: number };
      problems: { ruleId: string; severity: string; location: { pointer: string }[] }[];
    };
    expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(report.totals.errors).toBe(0);
    expect(exitCode).toBe(0);
    // The only warnings: liveness routes have no 4xx, and the websocket's success is a 101.
    const expected = [
      'operation-4xx-response #/paths/~1health/get/responses',
      'operation-4xx-response #/paths/~1metrics/get/responses',
      'operation-4xx-response #/paths/~1api~1v1~1health~1detailed/get/responses',
      'operation-2xx-response #/paths/~1api~1v1~1ws/get/responses',
    ];
    const warnings = report.problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer}`);
    expect(warnings.filter((warning) => !expected.includes(warning))).toEqual([]);
    // Its own timeout: tests/setup.ts's default (30 s) reaches only the first file of a run in Bun 1.4.5.
  }, 60_000);

  test('happy: the websocket is a GET answering 101 with its protocol described', () => {
    expect(routes.filter((r) => !methods.includes(r.method))).toEqual([]);
    expect(Object.keys(doc.paths['/api/v1/ws'] ?? {})).toEqual(['get']);
    const ws = doc.paths['/api/v1/ws']!.get!;
    expect(ws.responses?.['101']?.description).toContain('websocket');
    expect(JSON.stringify(ws)).toContain('chat.send');
  });

  test('happy: the gateway’s streaming POSTs say both answers: JSON, or an event stream', () => {
    for (const path of ['/v1/chat/completions', '/v1/responses', '/v1/messages']) {
      const ok = doc.paths[path]!.post!.responses?.['200'] as { content?: Record<string, unknown> } | undefined;
      expect([path, Object.keys(ok?.content ?? {}).sort()]).toEqual([path, ['application/json', 'text/event-stream']]);
    }
  });

  test('error: every operation lists its 4xx/5xx responses, each with the ErrorBody schema (OpenAI’s on /v1, Anthropic’s on /v1/messages)', () => {
    const errorBody = doc.components.schemas.ErrorBody!;
    expect(errorBody.required).toEqual(['error']);
    expect(errorBody.properties?.error?.required).toEqual(['code', 'message']);
    expect(Object.keys(errorBody.properties?.error?.properties ?? {})).toEqual(['code', 'message', 'details', 'requestId']);
    const wrong: string[] = [];
    for (const route of routes) {
      const statuses = Object.keys(route.operation.responses ?? {});
      const errors = statuses.filter((status) => Number(status) >= 400);
      if (!errors.includes('500')) wrong.push(`${name(route)}: no 500`);
      if (!noClientErrors.includes(name(route)) && !errors.some((status) => status.startsWith('4'))) wrong.push(`${name(route)}: no 4xx`);
      for (const status of errors) {
        if (name(route) === 'get /api/v1/health/detailed' && status === '503') continue; // its own body, with what is down
        const schema = resolveResponse(route.operation.responses![status]!).content?.['application/json']?.schema;
        const expected = route.path.startsWith('/v1/messages')
          ? anthropicErrorRef
          : route.path.startsWith('/v1/')
            ? openAiErrorRef
            : errorBodyRef;
        if (schema?.$ref !== expected) wrong.push(`${name(route)} ${status}: ${JSON.stringify(schema)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test('error: the errors follow from each route’s options (auth, path ids, body, parameters, the API’s limits)', () => {
    const wrong: string[] = [];
    const expectStatuses = (route: Route, statuses: number[], why: string) => {
      const missing = statuses.filter((status) => !route.operation.responses?.[status]);
      if (missing.length) wrong.push(`${name(route)} (${why}) lacks ${missing.join(', ')}`);
    };
    for (const route of routes) {
      const { operation, path } = route;
      if (operation['x-access']) expectStatuses(route, [401, 403], 'auth');
      if (path.includes('{')) expectStatuses(route, [404], 'path id');
      // OpenAI and Anthropic answer a schema violation 400, not 422: so do the routes that imitate them.
      const imitated = path.startsWith('/v1/');
      if (operation.requestBody) expectStatuses(route, imitated ? [400, 413, 415] : [400, 413, 415, 422], 'body');
      if (operation.parameters?.length) expectStatuses(route, [imitated ? 400 : 422], 'parameters');
      if ((operation as Json)['x-idempotent']) expectStatuses(route, [409], 'Idempotency-Key');
      if (/^\/(api\/)?v1\//.test(path) && !path.startsWith('/api/v1/health') && path !== '/api/v1/ws')
        expectStatuses(route, [429, 503], 'API');
    }
    expect(wrong).toEqual([]);
    // What routes add themselves: a taken email, a wrong password, a failed model provider.
    expect(doc.paths['/api/v1/auth/register']?.post?.responses?.['409']).toBeDefined();
    expect(doc.paths['/api/v1/auth/login']?.post?.responses?.['401']).toBeDefined();
    expect(doc.paths['/api/v1/chats/{id}/messages']?.post?.responses?.['502']).toBeDefined();
    expect(doc.paths['/v1/chat/completions']?.post?.responses?.['502']).toBeDefined();
    const rateLimited = resolveResponse(doc.paths['/api/v1/chats']!.get!.responses!['429']!) as Response & { headers?: Json };
    expect(Object.keys(rateLimited.headers ?? {})).toContain('Retry-After');
    expect(JSON.stringify(doc)).not.toContain('x-errors');
    expect(JSON.stringify(doc)).not.toContain('x-error-format');
    expect(doc.paths['/v1/chat/completions']?.post?.responses?.['422']).toBeUndefined();
    expect(doc.components.schemas.OpenAiError?.required).toEqual(['error']);
  });

  test('security: public operations say security: [], protected ones name a scheme and who may call', () => {
    const wrong: string[] = [];
    for (const route of routes) {
      const { security, 'x-access': access } = route.operation;
      if (!Array.isArray(security)) wrong.push(`${name(route)}: no security`);
      else if (!access && security.length !== 0) wrong.push(`${name(route)}: public but ${JSON.stringify(security)}`);
      else if (access === 'optional' && !security.some((requirement) => Object.keys(requirement).length === 0))
        wrong.push(`${name(route)}: optional auth without {}`);
      else if (access && access !== 'optional' && (security.length === 0 || security.some((r) => Object.keys(r).length === 0)))
        wrong.push(`${name(route)}: ${access} but ${JSON.stringify(security)}`);
    }
    expect(wrong).toEqual([]);
    for (const [path, method] of [
      ['/health', 'get'],
      ['/api/v1/auth/login', 'post'],
      ['/api/v1/chats/featured', 'get'],
      ['/api/v1/ws', 'get'],
    ] as const) {
      expect(doc.paths[path]?.[method]?.security).toEqual([]);
    }
  });

  test('happy: integers are integers (no string-coerced numbers anywhere)', () => {
    const coerced: string[] = [];
    const walk = (node: unknown, at: string) => {
      if (Array.isArray(node)) {
        for (const [i, child] of node.entries()) walk(child, `${at}/${i}`);
      } else if (node && typeof node === 'object') {
        const schema = node as Schema;
        if (schema.type === 'string' && ['integer', 'numeric', 'boolean'].includes(schema.format ?? '')) coerced.push(at);
        for (const [key, child] of Object.entries(schema)) walk(child, `${at}/${key}`);
      }
    };
    walk(doc, '#');
    expect(coerced).toEqual([]);
    const limit = doc.paths['/api/v1/chats']?.get?.parameters?.find((p) => p.name === 'limit');
    expect(limit?.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 100, default: 20 });
    const auth = doc.paths['/api/v1/auth/login']?.post?.responses?.['200']?.content?.['application/json']?.schema;
    expect(auth?.properties?.expiresIn?.type).toBe('integer');
  });

  test('error: no content type is advertised that the server refuses', async () => {
    const wrong: string[] = [];
    for (const route of routes) {
      const content = route.operation.requestBody?.content;
      if (!content) continue;
      const types = Object.keys(content);
      const files = JSON.stringify(content).includes('"format":"binary"');
      const expected = files ? ['multipart/form-data'] : ['application/json'];
      if (JSON.stringify(types) !== JSON.stringify(expected)) wrong.push(`${name(route)}: ${types.join(', ')}`);
    }
    expect(wrong).toEqual([]);
    // Elysia would advertise form bodies too, which the server refuses:
    const response = await app.request('/api/v1/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'email=a%40b.co&password=12345678',
    });
    expect(response.status).toBe(415);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unsupported_media_type');
  });

  test('happy: operationIds are unique, paths have no trailing slash, responses are described, tags declared', () => {
    const ids = routes.map((r) => r.operation.operationId);
    expect(ids.every((id) => typeof id === 'string' && /^[a-zA-Z][a-zA-Z0-9]*$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(Object.keys(doc.paths).filter((path) => path.length > 1 && path.endsWith('/'))).toEqual([]);
    const undescribed = routes.flatMap((route) =>
      Object.entries(route.operation.responses ?? {})
        .filter(([, response]) => !resolveResponse(response).description)
        .map(([status]) => `${name(route)} ${status}`),
    );
    expect(undescribed).toEqual([]);
    expect(routes.filter((r) => !Object.keys(r.operation.responses ?? {}).some((s) => /^[12]/.test(s))).map(name)).toEqual([]);
    const declared = new Set((doc.tags ?? []).map((tag) => tag.name));
    expect(routes.flatMap((r) => r.operation.tags ?? []).filter((tag) => !declared.has(tag))).toEqual([]);
  });

  describe('a client generated by openapi-typescript', () => {
    // Typed calls with openapi-fetch over the generated `paths`; JSON responses only.
    const flowProgram = `import createClient from 'openapi-fetch';
import type { components, paths } from './api.ts';

type ErrorCode = components['schemas']['ErrorBody']['error']['code'];
/** A JSON request body as the document describes it: a literal that satisfies it may name no field the document lost. */
type Body<P extends keyof paths, M extends 'post' | 'patch'> = paths[P][M] extends {
  requestBody?: { content: { 'application/json': infer B } };
}
  ? B
  : never;

export async function flow(fetchImpl: (request: Request) => Promise<Response>) {
  const client = createClient<paths, 'application/json'>({ baseUrl: 'http://localhost', fetch: fetchImpl });
  const email = \`typed-\${crypto.randomUUID()}@example.com\`;
  const password = 'correct horse battery staple';
  const fail = (step: string, error: { error: { code: ErrorCode; message: string } } | undefined): never => {
    throw new Error(\`\${step}: \${error?.error.code} \${error?.error.message}\`);
  };

  const registered = await client.POST('/api/v1/auth/register', {
    body: { email, password, name: 'Typed' } satisfies Body<'/api/v1/auth/register', 'post'>,
  });
  if (!registered.data) return fail('register', registered.error);
  const userId: string = registered.data.user.id;

  const login = await client.POST('/api/v1/auth/login', { body: { email, password } satisfies Body<'/api/v1/auth/login', 'post'> });
  if (!login.data) return fail('login', login.error);
  const expiresIn: number = login.data.expiresIn;
  const headers = { authorization: \`Bearer \${login.data.accessToken}\` };

  const chat = await client.POST('/api/v1/chats', {
    headers,
    body: { title: 'Typed client', provider: 'echo' } satisfies Body<'/api/v1/chats', 'post'>,
  });
  if (!chat.data) return fail('create chat', chat.error);
  const chatId: string = chat.data.id;

  const sent = await client.POST('/api/v1/chats/{id}/messages', {
    headers,
    params: { path: { id: chatId } },
    body: { content: 'hello from a typed client', stream: false } satisfies Body<'/api/v1/chats/{id}/messages', 'post'>,
  });
  if (!sent.data) return fail('send message', sent.error);
  const reply: string = sent.data.assistantMessage.content;
  return { userId, expiresIn, chatId, reply, userMessageId: sent.data.userMessage?.id ?? null };
}
`;
    const tsconfig = {
      compilerOptions: {
        target: 'ESNext',
        module: 'Preserve',
        moduleResolution: 'bundler',
        lib: ['ESNext'],
        types: ['bun'],
        strict: true,
        noUncheckedIndexedAccess: true,
        verbatimModuleSyntax: true,
        allowImportingTsExtensions: true,
        skipLibCheck: true,
        noEmit: true,
      },
      files: ['flow.ts'],
    };

    /** Generates `api.ts` for `document` into `dir`, writes the flow program, and type-checks it. */
    async function generateAndCheck(dir: string, document: Document) {
      mkdirSync(dir, { recursive: true });
      await Bun.write(join(dir, 'openapi.json'), JSON.stringify(document));
      const generated = await run([
        process.execPath,
        join(import.meta.dir, 'generate-types.ts'),
        join(dir, 'openapi.json'),
        join(dir, 'api.ts'),
      ]);
      expect(generated.stderr).toBe('');
      expect(generated.exitCode).toBe(0);
      await Bun.write(join(dir, 'flow.ts'), flowProgram);
      await Bun.write(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
      return run([bin('tsc'), '--noEmit', '-p', join(dir, 'tsconfig.json')]);
    }

    test('happy: its types check register → login → create chat → send message, and the program runs', async () => {
      const dir = join(workDir, 'client');
      const checked = await generateAndCheck(dir, doc);
      expect(`${checked.stdout}${checked.stderr}`).toBe('');
      expect(checked.exitCode).toBe(0);
      const api = await Bun.file(join(dir, 'api.ts')).text();
      expect(api).toContain('"/api/v1/auth/register"');
      expect(api).toMatch(/expiresIn: number;/);
      // The same program, run against the app in process.
      const { flow } = (await import(join(dir, 'flow.ts'))) as {
        flow: (fetchImpl: (request: Request) => Promise<globalThis.Response>) => Promise<{ reply: string; expiresIn: number }>;
      };
      const result = await flow((request) => app.app.handle(request));
      expect(result.reply).toBe('hello from a typed client');
      expect(Number.isInteger(result.expiresIn)).toBe(true);
    }, 20_000);

    test('error: the same program does not type-check once the register body loses `email`', async () => {
      const broken = structuredClone(doc);
      const schema = broken.paths['/api/v1/auth/register']!.post!.requestBody!.content['application/json']!.schema!;
      delete schema.properties!.email;
      schema.required = schema.required?.filter((field) => field !== 'email');
      const checked = await generateAndCheck(join(workDir, 'broken'), broken);
      expect(checked.exitCode).not.toBe(0);
      expect(`${checked.stdout}${checked.stderr}`).toMatch(/flow\.ts\(\d+,\d+\): error TS\d+: .*'email'/);
    }, 20_000);
  });
});
