// What a route tells the OpenAPI document beyond its schemas. The docs module
// (src/modules/docs/document.ts) derives most error responses from a route's options: auth →
// 401/403, a path id → 404, a body → 400/413/415/422, … A route names here only what its own
// logic adds, and the statuses of responses that have no schema (204, streams, text).
import type { ErrorCode } from './errors.ts';

/**
 * How an imitated API (the OpenAI-compatible /v1) writes its errors, for the document: a schema
 * (added to `components.schemas` under `name`) and the statuses that differ from the contract's
 * (OpenAI answers a schema violation 400, not 422). Spread `errorFormat(…)` into a route's `detail`.
 */
export type ErrorFormat = { name: string; schema: unknown; statuses?: Partial<Record<ErrorCode, number>> };

/** A route's errors in another API's shape (see ErrorFormat): spread into its `detail`. */
export const errorFormat = (format: ErrorFormat) => ({ 'x-error-format': format });

/** Errors a route answers beyond those its options imply: spread into its `detail`. */
export const mayFail = (...codes: ErrorCode[]) => ({ 'x-errors': codes });

/** For routes that answer 204 with no body: `detail: { …, responses: noContent }`. */
export const noContent = { 204: { description: 'Done; no body' } };

/** An SSE response, for routes that only stream (no response schema to derive it from). */
export const eventStream = (description: string) => ({
  200: { description, content: { 'text/event-stream': { schema: { type: 'string' as const } } } },
});
