import { Elysia } from 'elysia';
import { authGuard } from './http/auth.ts';
import { corsPolicy } from './http/cors.ts';
import { errorHandler } from './http/error-handler.ts';
import { createLimits } from './http/limits.ts';
import { requestGuard } from './http/request-log.ts';
import type { Infra } from './infra/index.ts';
import { adminModule } from './modules/admin/index.ts';
import { authModule } from './modules/auth/index.ts';
import { createAuthService } from './modules/auth/service.ts';
import { docsModule } from './modules/docs/index.ts';
import { healthModule } from './modules/health/index.ts';
import { usersModule } from './modules/users/index.ts';
import { createUsersService } from './modules/users/service.ts';
import { version } from './version.ts';

const maxJsonBytes = 1024 * 1024;

/** Upload routes accept several files in one body; anything larger is refused before it is read. */
export function maxRequestBytes(maxFileSize: number): number {
  return maxFileSize * 10 + maxJsonBytes;
}

/** The whole HTTP surface. The only place that knows every module. */
export function createApp(infra: Infra) {
  const users = createUsersService(infra.db);
  const auth = createAuthService(infra, users);
  const guard = authGuard(auth.resolveCaller);
  const limits = createLimits(infra);
  return new Elysia({ name: 'parley' })
    .use(errorHandler(infra.log))
    .use(requestGuard({ log: infra.log, maxJsonBytes, maxUploadBytes: maxRequestBytes(infra.config.maxFileSize) }))
    .use(corsPolicy(infra.config.corsOrigins))
    .use(docsModule({ version }))
    .use(healthModule(infra))
    .use(authModule({ config: infra.config, auth, users, guard, limits }))
    .use(usersModule({ users, guard, limits }))
    .use(adminModule({ users, guard, limits }));
}

export type App = ReturnType<typeof createApp>;
