import { Elysia } from 'elysia';
import type { Logger } from '../infra/log/index.ts';
import { enforceBodyLimit } from './body-limit.ts';
import { AppError, invalid } from './errors.ts';
import type { Metrics } from './metrics.ts';
import { requestInfo, startRequest } from './request-context.ts';
import { streamSettled } from './sse.ts';

const jsonType = /^application\/(?:[\w.+-]+\+)?json\b/i;

export type RequestGuardOptions = { log: Logger; metrics: Metrics; maxJsonBytes: number };

/**
 * Global request plumbing: the request id (echoed or made), security headers, body type and
 * size checks before routing (the size counted as the bytes arrive, whatever the framing: see
 * body-limit.ts), and one JSON access-log line per request. The
 * line names the caller by id only: never a token, password or key.
 */
export function requestGuard({ log, metrics, maxJsonBytes }: RequestGuardOptions) {
  return (
    new Elysia({ name: 'request-guard' })
      .onRequest(async ({ request, set }) => {
        const info = startRequest(request);
        set.headers['x-request-id'] = info.id;
        set.headers['x-content-type-options'] = 'nosniff';
        set.headers['x-frame-options'] = 'DENY';
        set.headers['referrer-policy'] = 'no-referrer';
        if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return;
        if (request.body === null) return;
        // Every route takes JSON (uploads, when they come, will say so per route): anything else is
        // 415. Limits hold however the body is framed: Content-Length or chunked, counted as it arrives.
        const type = request.headers.get('content-type') ?? '';
        if (!jsonType.test(type)) throw new AppError('unsupported_media_type', 'Send JSON (Content-Type: application/json)');
        await enforceBodyLimit(request, maxJsonBytes, `JSON bodies are limited to ${maxJsonBytes} bytes`);
      })
      // Postgres text cannot hold U+0000; refusing it here keeps such input a 422, never a 500.
      .onTransform({ as: 'global' }, ({ body, query, params }) => {
        const field = findNul({ body, query, params });
        if (field) throw invalid(field, 'may not contain U+0000');
      })
      .onAfterResponse({ as: 'global' }, ({ request, set, route, responseValue }) => {
        const info = requestInfo(request);
        const status = responseValue instanceof Response ? responseValue.status : Number(set.status ?? 200);
        const record = () => {
          const elapsedMs = info ? performance.now() - info.startedAt : 0;
          metrics.observeRequest(request.method, route || 'unmatched', status, elapsedMs / 1000);
          log.info('request', {
            requestId: info?.id,
            method: request.method,
            route: route || 'unmatched',
            status,
            durationMs: Math.round(elapsedMs * 100) / 100,
            userId: info?.userId,
          });
        };
        // A streamed response is logged and timed when its stream ends, not when its headers leave.
        const streaming = streamSettled(responseValue);
        if (streaming) void streaming.then(record);
        else record();
      })
  );
}

/** The path of the first string (or key) holding a NUL character, if any. */
function findNul(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path || 'body' : undefined;
  if (!value || typeof value !== 'object') return undefined;
  for (const [key, child] of Object.entries(value)) {
    const childPath = path ? `${path}.${key}` : key;
    if (key.includes('\u0000')) return childPath;
    const found = findNul(child, childPath);
    if (found) return found;
  }
  return undefined;
}
