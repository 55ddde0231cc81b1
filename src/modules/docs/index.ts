import { createHash } from 'node:crypto';
import { openapi } from '@elysiajs/openapi';
import { SwaggerUIRender } from '@elysiajs/openapi/swagger';
import { Elysia } from 'elysia';
import { docsCsp } from '../../http/transport.ts';
import { referenceAssets, swaggerAssets } from './assets.ts';
import { completeDocument, type OpenApiDocument } from './document.ts';
import { referenceBootScript, referencePageHtml, referencePath, referenceRedirects } from './reference.ts';

export const docsPath = '/swagger';

export type DocsOptions = { version: string };

// The plugin is told to load the document from `swagger/json`, relative to the page, which from
// /swagger/ (trailing slash, also served) is /swagger/swagger/json: a 404 and "Failed to load API
// definition". An absolute URL works from both. The plugin's option type omits `url`, but it
// spreads these options after its own, so passing the object by reference overrides it. The UI's
// script and styles are this server's own (see assets.ts).
const swaggerOptions = {
  url: `${docsPath}/json`,
  cdn: `${docsPath}/assets/swagger-ui-bundle.js`,
  theme: `${docsPath}/assets/swagger-ui.css`,
  autoDarkMode: false,
  persistAuthorization: true,
};

/** `sha256-…` of each inline `<script>` (one without `src`) of an HTML page, for a CSP. */
export function inlineScriptHashes(html: string): string[] {
  const hashes: string[] = [];
  for (const match of html.matchAll(/<script(?![^>]*\ssrc\s*=)[^>]*>([\s\S]*?)<\/script>/gi)) {
    hashes.push(
      `sha256-${createHash('sha256')
        .update(match[1] ?? '')
        .digest('base64')}`,
    );
  }
  return hashes;
}

// The page the plugin serves, rendered the way it renders it: its inline bootstrap script is
// allowed by hash and no other inline script is.
const pageHtml = SwaggerUIRender(
  { title: '', description: '' } as never,
  {
    dom_id: '#swagger-ui',
    version: 'latest',
    ...swaggerOptions,
  } as never,
);
const pageCsp = docsCsp(inlineScriptHashes(pageHtml));

// The reference page (/docs) has no inline script at all: the same policy without any hash.
const referenceHtml = referencePageHtml('Parley API reference');
const referenceCsp = docsCsp(inlineScriptHashes(referenceHtml));

const isPage = (path: string, page: string) => path === page || path === `${page}/`;

/**
 * The CSP of the docs pages (/swagger and /docs, with or without a trailing slash); undefined
 * elsewhere, where the API's strict one applies.
 */
export function docsPageCsp(path: string): string | undefined {
  if (isPage(path, docsPath)) return pageCsp;
  if (isPage(path, referencePath)) return referenceCsp;
  return undefined;
}

const tags = [
  { name: 'Health', description: 'Liveness and dependency status' },
  { name: 'Auth', description: 'Accounts, sessions, tokens and API keys' },
  { name: 'Users', description: 'The caller’s profile, preferences and usage' },
  { name: 'Models', description: 'Providers and models, LLM limits; Ollama control for admins' },
  { name: 'Chat', description: 'Stateless replies, stored in no chat' },
  { name: 'Chats', description: 'Chats and their message trees, replies streamed as SSE' },
  { name: 'Streams', description: 'Resumable event streams' },
  { name: 'Voice', description: 'Speech to text, text to speech and spoken turns, on an OpenAI-compatible speech server' },
  { name: 'Files', description: 'Uploads judged by content, downloads with ranges and ETags' },
  { name: 'Transcripts', description: 'Frozen, shareable records of a conversation: JSON, Markdown or text, searchable' },
  { name: 'Realtime', description: 'The websocket' },
  { name: 'Pipelines', description: 'Multi-step LLM workflows, run as jobs on a queue any instance takes from' },
  { name: 'Admin', description: 'Users, cache and housekeeping (role admin or X-Admin-Key)' },
  { name: 'OpenAI-compatible', description: 'OpenAI’s wire format under /v1, for its SDKs' },
  {
    name: 'Anthropic-compatible',
    description: 'Anthropic’s Messages API (/v1/messages), for its SDKs: baseURL is the server, the key a Parley API key',
  },
];

const description = [
  'AI chat backend: accounts, chats with streamed LLM replies, resumable streams, websockets, an OpenAI-compatible API and admin.',
  'JSON in and out (`Content-Type: application/json`; anything else is 415). Every error is an `ErrorBody` ' +
    '(`{"error": {"code", "message", "details"?, "requestId"}}`) whose code matches its status, and every response carries `X-Request-Id`.',
  'Sign in with `Authorization: Bearer <accessToken or pk_… API key>`; admin routes also take `X-Admin-Key`. ' +
    'Each protected operation says who may call it in `x-access` (user, member, admin, or optional); ' +
    'those that manage credentials (API keys, sessions, the password) take the `session` scheme: an access token, not an API key.',
].join('\n\n');

/**
 * The OpenAPI document at /swagger/json, Swagger UI at /swagger and the Scalar reference at /docs
 * (reference.ts; /api-docs and /redoc redirect there with 302). Both pages' scripts and styles are
 * served from the executable itself (see assets.ts), so they render with no internet. The
 * plugin's document is finished by completeDocument (document.ts) before it is served.
 */
export function docsModule({ version }: DocsOptions) {
  // The plugin caches its document until the routes change; so does this, by that object.
  const finished = new WeakMap<object, OpenApiDocument>();
  const finish = (generated: OpenApiDocument) => {
    let doc = finished.get(generated);
    if (!doc) finished.set(generated, (doc = completeDocument(generated)));
    return doc;
  };
  const reference = referenceAssets(referenceBootScript(swaggerOptions.url));
  const referencePage = () => new Response(referenceHtml, { headers: { 'content-type': 'text/html; charset=utf-8' } });
  // 302, not 301: browsers keep a 301 for good, and these paths may yet serve something else.
  const toReference = () => new Response(null, { status: 302, headers: { location: referencePath } });
  return new Elysia({ name: 'docs' })
    .onAfterHandle(({ path, responseValue }) => {
      if (path === swaggerOptions.url && responseValue && typeof responseValue === 'object' && 'paths' in responseValue)
        return finish(responseValue as OpenApiDocument);
    })
    .get(`${docsPath}/assets/:file`, ({ params }) => swaggerAssets.response(params.file), { detail: { hide: true } })
    .get(referencePath, referencePage, { detail: { hide: true } })
    .get(`${referencePath}/`, referencePage, { detail: { hide: true } })
    .get(`${referencePath}/assets/:file`, ({ params }) => reference.response(params.file), { detail: { hide: true } })
    .get(referenceRedirects[0], toReference, { detail: { hide: true } })
    .get(referenceRedirects[1], toReference, { detail: { hide: true } })
    .use(
      openapi({
        path: docsPath,
        provider: 'swagger-ui',
        swagger: swaggerOptions,
        documentation: {
          info: { title: 'Parley API', version, description, license: { name: 'MIT', identifier: 'MIT' } },
          servers: [{ url: '/', description: 'This server' }],
          tags,
          components: {
            securitySchemes: {
              bearer: { type: 'http', scheme: 'bearer', description: 'An access token (JWT) or an API key (pk_…)' },
              session: {
                type: 'http',
                scheme: 'bearer',
                bearerFormat: 'JWT',
                description: 'The access token of a signed-in session; API keys are refused (403) where credentials are managed',
              },
              apiKey: {
                type: 'apiKey',
                in: 'header',
                name: 'x-api-key',
                description:
                  'An API key (pk_…) in x-api-key, as Anthropic’s SDKs send it; read only when no Authorization header is sent. Access tokens go as bearer',
              },
              adminKey: { type: 'apiKey', in: 'header', name: 'X-Admin-Key' },
            },
          },
        },
      }),
    );
}
