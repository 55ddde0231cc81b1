import { cors } from '@elysiajs/cors';
import { Elysia } from 'elysia';

/** CORS from the CORS_ORIGINS allow-list; with none, browsers get same-origin only (no CORS headers). */
export function corsPolicy(origins: readonly string[]) {
  if (origins.length === 0) return new Elysia({ name: 'cors-none' });
  return cors({
    origin: origins.includes('*') ? true : [...origins],
    credentials: !origins.includes('*'),
    // X-Api-Key and Anthropic-*: what Anthropic's clients send to /v1/messages.
    allowedHeaders: [
      'Authorization',
      'Content-Type',
      'X-Request-Id',
      'X-Admin-Key',
      'Last-Event-ID',
      'X-Api-Key',
      'Anthropic-Version',
      'Anthropic-Beta',
    ],
    exposeHeaders: ['X-Request-Id', 'Request-Id', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Retry-After'],
    maxAge: 600,
  });
}
