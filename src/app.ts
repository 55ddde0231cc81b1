import { Elysia } from 'elysia';
import { corsPolicy } from './http/cors.ts';
import { errorHandler } from './http/error-handler.ts';
import { requestGuard } from './http/request-log.ts';
import type { Infra } from './infra/index.ts';
import { docsModule } from './modules/docs/index.ts';
import { healthModule } from './modules/health/index.ts';
import { version } from './version.ts';

const maxJsonBytes = 1024 * 1024;

/** Upload routes accept several files in one body; anything larger is refused before it is read. */
export function maxRequestBytes(maxFileSize: number): number {
  return maxFileSize * 10 + maxJsonBytes;
}

/** The whole HTTP surface. The only place that knows every module. */
export function createApp(infra: Infra) {
  return new Elysia({ name: 'parley' })
    .use(errorHandler(infra.log))
    .use(requestGuard({ log: infra.log, maxJsonBytes, maxUploadBytes: maxRequestBytes(infra.config.maxFileSize) }))
    .use(corsPolicy(infra.config.corsOrigins))
    .use(docsModule({ version }))
    .use(healthModule(infra));
}

export type App = ReturnType<typeof createApp>;
