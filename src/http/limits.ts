import type { Infra } from '../infra/index.ts';
import { rateLimit } from './rate-limit.ts';

/**
 * The two per-IP budgets of the contract, as plugins a module `.use()`s before its routes:
 * `general` for the API, `auth` for login, register and the password-reset pair.
 */
export function createLimits({ config, kv, log }: Pick<Infra, 'config' | 'kv' | 'log'>) {
  const common = { kv, log, trustProxy: config.trustProxy, enabled: config.rateLimit.enabled };
  return {
    general: () => rateLimit({ ...common, name: 'general', max: config.rateLimit.maxRequests, windowMs: config.rateLimit.windowMs }),
    auth: () => rateLimit({ ...common, name: 'auth', max: config.rateLimit.authMax, windowMs: config.rateLimit.authWindowMs }),
  };
}

export type Limits = ReturnType<typeof createLimits>;
