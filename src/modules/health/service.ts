import { configuredProviders } from '../../config/index.ts';
import type { Infra } from '../../infra/index.ts';
import type { DetailedHealth } from './model.ts';

const probeTimeoutMs = 2000;

/** Probes each dependency with a bounded wait, so a hung dependency cannot hang health. */
export async function checkHealth(infra: Infra, version: string): Promise<DetailedHealth> {
  const [database, kv] = await Promise.all([probe(() => infra.db.ping()), probe(() => infra.kv.ping())]);
  const kvStatus = kv.ok && infra.kv.status() === 'ok' ? 'ok' : 'degraded';
  return {
    status: !database.ok ? 'down' : kvStatus === 'ok' ? 'ok' : 'degraded',
    version,
    uptimeSeconds: Math.round((Date.now() - infra.startedAt.getTime()) / 1000),
    database: { kind: infra.db.kind, status: database.ok ? 'ok' : 'down', latencyMs: database.latencyMs },
    kv: { kind: infra.kv.kind, status: kvStatus, latencyMs: kv.latencyMs },
    providers: configuredProviders(infra.config),
  };
}

async function probe(ping: () => Promise<number>): Promise<{ ok: boolean; latencyMs: number | null }> {
  let timer: Timer | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), probeTimeoutMs);
    });
    const latency = await Promise.race([ping(), timeout]);
    return { ok: true, latencyMs: Math.round(latency * 100) / 100 };
  } catch {
    return { ok: false, latencyMs: null };
  } finally {
    clearTimeout(timer);
  }
}
