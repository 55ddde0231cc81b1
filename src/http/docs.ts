// What a route tells the OpenAPI document beyond its schemas. The docs module
// (src/modules/docs/document.ts) derives most error responses from a route's options: auth →
// 401/403, a path id → 404, a body → 400/413/415/422, … A route names here only what its own
// logic adds, and the statuses of responses that have no schema (204, streams, text).
import type { ErrorCode } from './errors.ts';

/** Errors a route answers beyond those its options imply: spread into its `detail`. */
export const mayFail = (...codes: ErrorCode[]) => ({ 'x-errors': codes });

/** For routes that answer 204 with no body: `detail: { …, responses: noContent }`. */
export const noContent = { 204: { description: 'Done; no body' } };

/** An SSE response, for routes that only stream (no response schema to derive it from). */
export const eventStream = (description: string) => ({
  200: { description, content: { 'text/event-stream': { schema: { type: 'string' as const } } } },
});
