import { Elysia, t } from 'elysia';
import { mayFail, noContent } from '../../http/docs.ts';
import type { RouteBundle } from '../../http/routes.ts';
import { AppendBody, Appended, CreateStreamBody, StreamCreated, StreamDump, StreamParams, StreamQuery } from './model.ts';
import type { StreamsService } from './service.ts';

const tags = ['Streams'];

export function streamsModule({ streams, routes }: { streams: StreamsService; routes: RouteBundle }) {
  return new Elysia({ name: 'streams', prefix: '/api/v1/streams' })
    .use(routes.api())
    .post(
      '/',
      async ({ caller, body, set }) => {
        set.status = 201;
        return streams.create(caller.user.id, body?.ttlSeconds);
      },
      {
        auth: true,
        idempotent: true,
        body: CreateStreamBody,
        response: { 201: StreamCreated },
        detail: { tags, summary: 'Create a stream you append events to' },
      },
    )
    .post(
      '/:id/append',
      async ({ caller, params, body, set }) => {
        set.status = 202;
        return streams.append(caller.user.id, params.id, body.event ?? 'message', body.data);
      },
      {
        auth: true,
        params: StreamParams,
        body: AppendBody,
        response: { 202: Appended },
        detail: {
          tags,
          summary: 'Append an event: delivered as an SSE event of that name whose data: is `data`, JSON-encoded',
          ...mayFail('conflict'),
        },
      },
    )
    .post(
      '/:id/close',
      async ({ caller, params }) => {
        await streams.close(caller.user.id, params.id);
        return { id: params.id, closed: true };
      },
      {
        auth: true,
        params: StreamParams,
        response: { 200: t.Object({ id: t.String(), closed: t.Boolean() }) },
        detail: { tags, summary: 'Close a stream: readers get what it holds, then the end', ...mayFail('conflict') },
      },
    )
    .get(
      '/:id',
      async ({ caller, params, query, headers }) => {
        await streams.owned(caller.user.id, params.id);
        if (headers.accept?.includes('application/json') && !headers.accept.includes('text/event-stream')) {
          return streams.dump(caller.user.id, params.id);
        }
        const lastEventId = headers['last-event-id'];
        const afterId =
          lastEventId !== undefined
            ? streams.checkAfter(lastEventId, 'header.last-event-id')
            : streams.checkAfter(query.after, 'query.after');
        return streams.sse(params.id, afterId);
      },
      {
        auth: true,
        params: StreamParams,
        query: StreamQuery,
        detail: {
          tags,
          summary: 'Replay then follow a stream (a reply’s streamId, or one of yours) as SSE, from any instance',
          description:
            '`Last-Event-ID` or `?after=` resumes exactly after that event. Ends with the stream (for a reply: after `done` or `error`). ' +
            'When the caller’s credentials end (logout, the session ended, the API key revoked, the user disabled: on any instance, within 1 s; or the token or key expiring), ' +
            'the reader gets an `error` event `{code: "unauthorized", message}` carrying the id of the last event sent, and the stream ends. ' +
            'With `Accept: application/json`, the whole buffer as JSON.',
          responses: {
            200: {
              description: 'SSE, or the buffer as JSON',
              content: { 'text/event-stream': { schema: { type: 'string' } }, 'application/json': { schema: StreamDump } },
            },
          } as never,
        },
      },
    )
    .delete(
      '/:id',
      async ({ caller, params, set }) => {
        await streams.remove(caller.user.id, params.id);
        set.status = 204;
      },
      {
        auth: true,
        params: StreamParams,
        detail: { tags, summary: 'Delete a stream and its events', responses: noContent, ...mayFail('conflict') },
      },
    );
}
