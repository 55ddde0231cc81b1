// The types a front end builds a client from, never run: `import type { App } from 'parley/client'`
// then `treaty<App>('https://…')` (@elysiajs/eden). `bun run build:client` compiles this file's
// declarations into dist/client/ (scripts/build-client.ts), and package.json's `client` export
// points there. The routes are inferred below, so their declaration is written out in full and needs
// only `elysia` from the front end's own install, not the server's modules and dependencies.
import type { Elysia } from 'elysia';
import type { App as Server } from './app.ts';

declare const server: Server;

/** Every route as Eden reads it: params, query, headers, body and responses by status. A type carrier only: never read it. */
export const routes = server['~Routes'];

type Empty = Record<never, never>;

/** The routes of the API as an Elysia app type, which is what Eden's `treaty<App>()` takes (Elysia's defaults elsewhere). */
export type App = Elysia<
  '',
  { decorator: Empty; store: Empty; derive: Empty; resolve: Empty },
  { typebox: Empty; error: Empty },
  { schema: Empty; standaloneSchema: Empty; macro: Empty; macroFn: Empty; parser: Empty; response: Empty },
  typeof routes
>;
