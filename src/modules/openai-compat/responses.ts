// POST /v1/responses, GET and DELETE /v1/responses/{id}: OpenAI's Responses API
// (platform.openai.com/docs/api-reference/responses), which the Vercel AI SDK's `openai(model)`
// and LangChain's `useResponsesApi` call by default. Text and function tools, streamed or not,
// previous_response_id over the responses the caller stored.
import { Elysia, t } from 'elysia';
import { mayFail } from '../../http/docs.ts';
import type { ReplayStream } from '../../http/idempotency.ts';
import type { RouteBundle } from '../../http/routes.ts';
import type { RepliesService } from '../replies/service.ts';
import { openAiErrors } from './errors.ts';
import { DeletedResponse, type ResponseBody, ResponseBody as ResponseBodySchema, ResponseObject } from './responses-model.ts';
import type { ResponsesService } from './responses-service.ts';
import { echoOf, responseEvents, responseOf } from './responses-stream.ts';

const tags = ['OpenAI-compatible'];

const ResponseId = t.Object({ id: t.String({ minLength: 1, maxLength: 100, description: 'resp_…' }) });

/** The three routes, mounted under /v1 by openAiCompatModule; errors in OpenAI's shape (openAiErrorDialect). */
export function openAiResponsesRoutes(options: {
  responses: ResponsesService;
  replies: RepliesService;
  routes: RouteBundle;
  /** See OpenAiCompatOptions.firstTokenHoldMs. */
  firstTokenHoldMs: number;
}) {
  const { responses, replies, routes, firstTokenHoldMs } = options;
  const formatOf = (body: ResponseBody, streamId: string) => responseEvents(streamId, { model: body.model, echo: echoOf(body) });
  const replayResponse: ReplayStream = (request, streamId) =>
    replies.sse(streamId, { format: formatOf(request.body as ResponseBody, streamId) });

  return (
    // Mounted by the module's instance, whose `/v1` prefix its paths take.
    new Elysia({ name: 'openai-compat-responses' })
      .use(routes.api())
      .post(
        '/responses',
        async ({ caller, ip, body, request }) => {
          const { started, echo } = await responses.start(caller, ip, body);
          responses.cancelOnAbort(request, started);
          if (!body.stream) {
            const result = await started.done;
            if (result.status === 'error' || result.status === 'interrupted') throw await responses.failureOf(started, body.model);
            return responseOf(started.streamId, result, echo);
          }
          // Held until the first token: a failure before it is an HTTP error, not a 200 stream.
          const first = await replies.firstEvent(started.streamId, { signal: request.signal, timeoutMs: firstTokenHoldMs });
          if (first?.event === 'error') throw await responses.failureOf(started, body.model);
          return replies.sse(started.streamId, { format: formatOf(body, started.streamId), cancelOnLeave: started.messageId });
        },
        {
          auth: true,
          // A repeat with the same Idempotency-Key replays the response (its events, or its JSON).
          idempotent: { replay: replayResponse },
          body: ResponseBodySchema,
          detail: {
            tags,
            summary: 'Create a model response in OpenAI’s Responses API format, streamed (semantic SSE events) or not',
            description:
              'Text and function tools. `input` is a string or items: messages (user, assistant, system, developer; text and images), ' +
              'function_call and function_call_output items, and item_reference to output items of your stored responses. ' +
              'Built-in tools (web_search, file_search, …), background, conversation and prompt are refused (400 naming the field). ' +
              'Unless `store` is false the response is kept for RESPONSES_TTL_SECONDS: GET and DELETE /v1/responses/{id}, and ' +
              '`previous_response_id` continues its conversation (its input and output come before this input; its instructions do not). ' +
              'A response that failed is stored as failed and cannot be continued. A model’s thinking (where the provider streams it) is a ' +
              'reasoning item with summary text. Streamed: response.created, response.in_progress, output_item/content_part/output_text ' +
              'events (function_call items with function_call_arguments.delta/.done, reasoning items with reasoning_summary_* events), then ' +
              'response.completed, response.incomplete or response.failed, each with `event:` and `sequence_number`. ' +
              'Errors are OpenAI’s shape; a stream that fails before its first token answers with that status; a client that disconnects cancels the reply.',
            ...mayFail('upstream_error', 'not_found'),
            ...openAiErrors,
            responses: {
              200: {
                description: 'The Response object, or a text/event-stream of Responses API events',
                content: { 'application/json': { schema: ResponseObject }, 'text/event-stream': { schema: { type: 'string' } } },
              },
            } as never,
          },
        },
      )
      .get('/responses/:id', async ({ caller, params }) => await responses.find(caller.user.id, params.id), {
        auth: true,
        params: ResponseId,
        detail: {
          tags,
          summary: 'A response you stored, as it was answered; another user’s, an expired or a deleted one is 404',
          ...openAiErrors,
          responses: { 200: { description: 'The Response object', content: { 'application/json': { schema: ResponseObject } } } } as never,
        },
      })
      .delete('/responses/:id', async ({ caller, params }) => await responses.remove(caller.user.id, params.id), {
        auth: true,
        params: ResponseId,
        response: { 200: DeletedResponse },
        detail: { tags, summary: 'Delete a response you stored: it can no longer be read or continued', ...openAiErrors },
      })
  );
}
