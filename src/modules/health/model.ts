import { t } from 'elysia';

export const Liveness = t.Object({ status: t.Literal('ok') });

const Dependency = t.Object({
  kind: t.String(),
  status: t.Union([t.Literal('ok'), t.Literal('degraded'), t.Literal('down')]),
  latencyMs: t.Union([t.Number(), t.Null()]),
});

export const DetailedHealth = t.Object({
  status: t.Union([t.Literal('ok'), t.Literal('degraded'), t.Literal('down')]),
  version: t.String(),
  uptimeSeconds: t.Number(),
  database: Dependency,
  kv: Dependency,
  providers: t.Array(t.String(), { description: 'Configured LLM providers' }),
});

export type DetailedHealth = typeof DetailedHealth.static;
