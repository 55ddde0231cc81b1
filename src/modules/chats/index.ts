import { Elysia, t } from 'elysia';
import { mayFail, noContent } from '../../http/docs.ts';
import { PageQuery, page } from '../../http/pagination.ts';
import { type CallerLimit, callerSubject } from '../../http/rate-limit.ts';
import type { RouteBundle } from '../../http/routes.ts';
import {
  Categories,
  ChatMessageParams,
  ChatParams,
  ChatView,
  ChatWithMessages,
  CreateChatBody,
  EditMessageBody,
  FeaturedBody,
  ListChatsQuery,
  MessageView,
  RegenerateBody,
  SearchQuery,
  SearchResults,
  SendMessageBody,
  SentMessages,
  Stats,
  UpdateChatBody,
} from './model.ts';
import type { ChatsService } from './service.ts';

const tags = ['Chats'];
const sentResponses = {
  200: {
    description: 'text/event-stream of start/delta/done/error events, or with `stream: false` the stored messages',
    content: { 'text/event-stream': { schema: { type: 'string' } }, 'application/json': { schema: SentMessages } },
  },
} as never;
const sseDetail =
  'Server-sent events: `start`, `delta`… (`tool_call` {index, id, name, arguments} for each tool the model calls), then `done` or `error`, each with an `id:`; `: ping` while idle. With `stream: false`, JSON.';

export type ChatsModuleDeps = { chats: ChatsService; routes: RouteBundle; searchLimit: CallerLimit };

export function chatsModule({ chats, routes, searchLimit }: ChatsModuleDeps) {
  return new Elysia({ name: 'chats', prefix: '/api/v1/chats' })
    .use(routes.api())
    .get('/featured', ({ query }) => chats.featured(query), {
      query: PageQuery,
      response: { 200: page(ChatView) },
      detail: { tags, summary: 'Chats an admin featured: public, read-only, no sign-in needed (without their system prompts)' },
    })
    .get('/', ({ caller, query }) => chats.list(caller.user.id, query), {
      auth: true,
      query: ListChatsQuery,
      response: { 200: page(ChatView) },
      detail: { tags, summary: 'The caller’s chats: pinned first, then most recent' },
    })
    .post(
      '/',
      async ({ caller, body, set }) => {
        set.status = 201;
        return chats.create(caller.user.id, body);
      },
      { auth: true, idempotent: true, body: CreateChatBody, response: { 201: ChatView }, detail: { tags, summary: 'Create a chat' } },
    )
    .get(
      '/search',
      async ({ caller, ip, query, set }) => {
        await searchLimit.consume(callerSubject(caller.user, ip), set.headers);
        return chats.search(caller.user.id, query);
      },
      {
        auth: true,
        query: SearchQuery,
        response: { 200: SearchResults },
        detail: {
          tags,
          summary: 'Full-text search over the caller’s chat titles and messages',
          description: 'Limited per user (guests per IP) to SEARCH_RATE_LIMIT_PER_MINUTE searches a minute, on top of the general limit.',
        },
      },
    )
    .get('/stats', ({ caller }) => chats.stats(caller.user.id), {
      auth: true,
      response: { 200: Stats },
      detail: { tags, summary: 'Counts of chats and messages, and tokens by model' },
    })
    .get('/categories', ({ caller }) => chats.categories(caller.user.id), {
      auth: true,
      response: { 200: Categories },
      detail: { tags, summary: 'The caller’s categories with how many chats each holds' },
    })
    .get('/:id', ({ caller, params }) => chats.get(caller?.user.id ?? null, params.id), {
      optionalAuth: true,
      params: ChatParams,
      response: { 200: ChatWithMessages },
      detail: { tags, summary: 'A chat with its messages (a featured chat is readable by anyone, its system prompt by its owner only)' },
    })
    .patch('/:id', ({ caller, params, body }) => chats.update(caller.user.id, params.id, body), {
      auth: true,
      params: ChatParams,
      body: UpdateChatBody,
      response: { 200: ChatView },
      detail: { tags, summary: 'Rename, pin, archive, categorise, or change the chat’s model or system prompt' },
    })
    .delete(
      '/:id',
      async ({ caller, params, set }) => {
        await chats.remove(caller.user.id, params.id);
        set.status = 204;
      },
      { auth: true, params: ChatParams, detail: { tags, summary: 'Delete a chat and its messages', responses: noContent } },
    )
    .get('/:id/messages', ({ caller, params, query }) => chats.listMessages(caller.user.id, params.id, query), {
      auth: true,
      params: ChatParams,
      query: PageQuery,
      response: { 200: page(MessageView) },
      detail: { tags, summary: 'Messages, oldest first' },
    })
    .post(
      '/:id/messages',
      async ({ caller, ip, params, body }) => chats.respond(await chats.send(caller, ip, params.id, body), body.stream),
      {
        auth: true,
        // A repeat with the same Idempotency-Key replays this reply's stream (or its JSON): no second turn.
        idempotent: 'reply',
        params: ChatParams,
        body: SendMessageBody,
        // No response schema: the answer is either an SSE stream or SentMessages JSON.
        detail: {
          tags,
          summary: 'Send a message, or the results of the last reply’s tool calls; the reply streams as SSE unless `stream: false`',
          description: `${sseDetail} A reply that called tools (finishReason tool_calls, its toolCalls on the message) is answered with \`toolResults\` [{toolCallId, content}], one per call: stored as one \`tool\` message under it, then the model replies to them (422 when they do not answer the last message's calls exactly).`,
          responses: sentResponses,
          ...mayFail('upstream_error'),
        },
      },
    )
    .post(
      '/:id/messages/:messageId/regenerate',
      async ({ caller, ip, params, body }) =>
        chats.respond(await chats.regenerate(caller, ip, params.id, params.messageId, body ?? {}), body?.stream),
      {
        auth: true,
        idempotent: 'reply',
        params: ChatMessageParams,
        body: t.Optional(RegenerateBody),
        detail: {
          tags,
          summary: 'A new assistant reply for that turn (SSE unless `stream: false`)',
          description: sseDetail,
          responses: sentResponses,
          ...mayFail('conflict', 'upstream_error'),
        },
      },
    )
    .patch(
      '/:id/messages/:messageId',
      async ({ caller, ip, params, body }) => chats.respond(await chats.edit(caller, ip, params.id, params.messageId, body), body.stream),
      {
        auth: true,
        idempotent: 'reply',
        params: ChatMessageParams,
        body: EditMessageBody,
        detail: {
          tags,
          summary: 'Edit a user message: a new version beside the old one starts a branch and gets its reply (SSE unless `stream: false`)',
          description: sseDetail,
          responses: sentResponses,
          ...mayFail('conflict', 'upstream_error'),
        },
      },
    )
    .post('/:id/messages/:messageId/select', ({ caller, params }) => chats.select(caller.user.id, params.id, params.messageId), {
      auth: true,
      params: ChatMessageParams,
      response: { 200: ChatWithMessages },
      detail: { tags, summary: 'Make the branch through that message the active one; answers the chat as it now reads' },
    })
    .post(
      '/:id/messages/:messageId/cancel',
      async ({ caller, params, set }) => {
        await chats.cancel(caller.user.id, params.id, params.messageId);
        set.status = 202;
        return { messageId: params.messageId, cancelling: true };
      },
      {
        auth: true,
        params: ChatMessageParams,
        response: { 202: t.Object({ messageId: t.String(), cancelling: t.Boolean() }) },
        detail: {
          tags,
          summary: 'Stop a reply being generated (on whichever instance runs it); its stream ends with done {finishReason: "cancelled"}',
          ...mayFail('conflict'),
        },
      },
    )
    .patch(
      '/:id/featured',
      async ({ params, body, audit }) => {
        const { chat, wasFeatured } = await chats.setFeatured(params.id, body.featured);
        audit.note({ target: { type: 'chat', id: chat.id }, before: { featured: wasFeatured }, after: { featured: chat.featured } });
        return chat;
      },
      {
        admin: true,
        audit: 'chat.feature',
        params: ChatParams,
        body: FeaturedBody,
        response: { 200: ChatView },
        detail: { tags: ['Chats', 'Admin'], summary: 'Feature a chat (public, read-only) or stop featuring it' },
      },
    );
}
