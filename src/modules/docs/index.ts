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
  return new Elysia({ name: 'docs' })
    .get(`${docsPath}/assets/:file`, ({ params }) => swaggerAssets.response(params.file), { detail: { hide: true } })
    .use(
      openapi({
        path: docsPath,
        provider: 'swagger-ui',
        swagger: {
          cdn: `${docsPath}/assets/swagger-ui-bundle.js`,
          theme: `${docsPath}/assets/swagger-ui.css`,
          autoDarkMode: false,
          persistAuthorization: true,
        },
        documentation: {
          info: {
            title: 'Parley API',
            version,
            description:
              'AI chat backend: accounts, chats with streamed LLM replies, files, voice, resumable streams, pipelines and admin.',
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
