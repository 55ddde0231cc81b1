import { openapi } from '@elysiajs/openapi';
import { Elysia } from 'elysia';
import { swaggerAssets } from './assets.ts';

export const docsPath = '/swagger';

export type DocsOptions = { version: string };

/**
 * The OpenAPI document at /swagger/json and Swagger UI at /swagger. The UI's script and styles
 * are served from the executable itself (see assets.ts), so the page renders with no internet.
 */
export function docsModule({ version }: DocsOptions) {
  // The plugin tells the UI to load the document from `swagger/json`, relative to the page, which
  // from /swagger/ (trailing slash, also served) is /swagger/swagger/json: a 404 and "Failed to
  // load API definition". An absolute URL works from both. The plugin's option type omits `url`,
  // but it spreads these options after its own, so passing the object by reference overrides it.
  const swaggerOptions = {
    url: `${docsPath}/json`,
    cdn: `${docsPath}/assets/swagger-ui-bundle.js`,
    theme: `${docsPath}/assets/swagger-ui.css`,
    autoDarkMode: false,
    persistAuthorization: true,
  };
  return new Elysia({ name: 'docs' })
    .get(`${docsPath}/assets/:file`, ({ params }) => swaggerAssets.response(params.file), { detail: { hide: true } })
    .use(
      openapi({
        path: docsPath,
        provider: 'swagger-ui',
        swagger: swaggerOptions,
        documentation: {
          info: {
            title: 'Parley API',
            version,
            description:
              'AI chat backend: accounts, chats with streamed LLM replies, resumable streams, websockets, an OpenAI-compatible API and admin.',
          },
          tags: [{ name: 'Health', description: 'Liveness and dependency status' }],
          components: {
            securitySchemes: {
              bearer: { type: 'http', scheme: 'bearer', description: 'An access token (JWT) or an API key (pk_…)' },
              adminKey: { type: 'apiKey', in: 'header', name: 'X-Admin-Key' },
            },
          },
        },
      }),
    );
}
