import type { Infra } from '../infra/index.ts';
import { peekIpBudget, rateLimit } from './rate-limit.ts';

/**
 * The two per-IP budgets of the contract, as plugins a module `.use()`s before its routes:
 * `general` for the API, `auth` for login, register and the password-reset pair. Those routes
 * spend the general budget too, so `auth` carries both: one atomic check charges both or, when
 * either is spent, neither. A route takes one of the two plugins, never both (stacked limiters
 * charge one after the other, and a refusal by the second would leave the first charged).
 */
export function createLimits({ config, kv, log }: Pick<Infra, 'config' | 'kv' | 'log'>) {
  const common = { kv, log, trustProxy: config.trustProxy, enabled: config.rateLimit.enabled };
  const general = { name: 'general', max: config.rateLimit.maxRequests, windowMs: config.rateLimit.windowMs };
  return {
    general: () => rateLimit({ ...common, ...general }),
    /** The general budget's state for `ip`, counting nothing (GET /rate-limit). */
    peekGeneral: (ip: string) => peekIpBudget(kv, general, ip),
    auth: () =>
      rateLimit({ ...common, name: 'auth', max: config.rateLimit.authMax, windowMs: config.rateLimit.authWindowMs, with: [general] }),
  };
}

export type Limits = ReturnType<typeof createLimits>;
