// The Responses API's work, apart from HTTP: a request continued from the stored response it
// names (previous_response_id) and the items it references, started as a stateless reply; the
// response stored once the reply ends (before its last event, so a client that saw
// response.completed finds it at once); and reading, deleting and expiring stored responses.
//
// Decided here: a reply that failed (or was cancelled) is stored too, with status `failed` (and
// its error) or `cancelled`, since a stream announced its id; it can be read and deleted, but only
// a `completed` or `incomplete` response can be continued (400 naming previous_response_id).
import type { UserCaller } from '../../http/auth.ts';
import type { Infra } from '../../infra/index.ts';
import type { ChatMessage } from '../../infra/llm/index.ts';
import type { ModelsService } from '../models/service.ts';
import type { RepliesService, StartedGeneration } from '../replies/service.ts';
import { badParam, hinted } from './errors.ts';
import { createReplyLifecycle } from './lifecycle.ts';
import type { InputItem, ResponseBody } from './responses-model.ts';
import { createResponsesRepository, type StoredResponse } from './responses-repository.ts';
import { type ItemResolver, type StoredConversation, toResponseConversation } from './responses-request.ts';
import { echoOf, isResponseId, type ResponseEcho, responseIdOf, responseIdOfItem, responseOf } from './responses-stream.ts';

/** Most characters of JSON a stored conversation may take: a chain past it cannot be continued (about 4M tokens of text). */
export const maxStoredConversationChars = 16 * 1024 * 1024;

/** OpenAI's 404 for a response (or item) the caller has not stored: another user's, an expired or a deleted one alike. */
const notFound = (message: string, param: string | null) =>
  hinted('not_found', message, { type: 'invalid_request_error', code: 'not_found', param });

/**
 * The Responses API's service (see the file's head): `start` a request's reply, `find` and `remove`
 * a stored response, `sweep` the expired ones; also the reply lifecycle's `failureOf` and
 * `cancelOnAbort` (lifecycle.ts). Errors are AppErrors in OpenAI's terms (errors.ts).
 */
export function createResponsesService(infra: Infra, deps: { models: ModelsService; replies: RepliesService }) {
  const repo = createResponsesRepository(infra.db);
  const lifecycle = createReplyLifecycle(deps);
  const ttlMs = infra.config.responsesTtlSeconds * 1000;

  /** The caller's stored response `id`; OpenAI's 404 (naming `param`) when there is none. */
  async function load(userId: string, id: string, param: string | null): Promise<StoredResponse> {
    // An id Parley never made is not looked up: the database sees only well-formed ones.
    const stored = isResponseId(id) ? await repo.find(userId, id) : undefined;
    if (!stored) throw notFound(`No response with id '${id}' found.`, param);
    return stored;
  }

  /** The conversation a request continues: its previous response's, which must have completed (or stopped short). */
  async function priorOf(userId: string, id: string | null | undefined): Promise<StoredConversation | undefined> {
    if (id == null) return undefined;
    const previous = await load(userId, id, 'previous_response_id');
    if (previous.status !== 'completed' && previous.status !== 'incomplete') {
      throw badParam(
        'previous_response_id',
        `Response '${id}' is ${previous.status}: only a completed or incomplete response can be continued`,
      );
    }
    return previous.conversation;
  }

  /** Keeps the ended reply with what continues it: the conversation so far and the reply as an assistant turn. */
  const storeOnSettled =
    (caller: UserCaller, handedOn: StoredConversation, echo: ResponseEcho) =>
    async (result: Parameters<typeof responseOf>[1], streamId: string) => {
      const body = responseOf(streamId, result, echo);
      const reply: ChatMessage = {
        role: 'assistant',
        content: result.text,
        ...(result.toolCalls.length ? { toolCalls: result.toolCalls } : {}),
      };
      await repo.insert({
        id: responseIdOf(streamId),
        userId: caller.user.id,
        apiKeyId: caller.apiKeyId,
        model: body.model,
        status: body.status,
        body,
        conversation: { system: handedOn.system, turns: [...handedOn.turns, reply] },
        expiresAt: new Date(Date.now() + ttlMs),
      });
    };

  return {
    ...lifecycle,

    /**
     * Starts the reply of a Responses API request (see toResponseConversation): 404 naming
     * previous_response_id or `input[i]` for a response or item the caller has not stored, 400 for
     * what Parley cannot honour, OpenAI's 404 model_not_found for an unknown model. Unless `store`
     * is false, the reply is stored when it ends. Gives the reply and the fields its Response echoes.
     */
    async start(caller: UserCaller, ip: string, body: ResponseBody): Promise<{ started: StartedGeneration; echo: ResponseEcho }> {
      const userId = caller.user.id;
      const prior = await priorOf(userId, body.previous_response_id);
      // Each referenced response is read once, however many of its items the input names.
      const read = new Map<string, Promise<StoredResponse | undefined>>();
      const resolve: ItemResolver = async (itemId, at) => {
        const responseId = responseIdOfItem(itemId);
        if (responseId && !read.has(responseId)) read.set(responseId, repo.find(userId, responseId));
        const stored = responseId ? await read.get(responseId) : undefined;
        const item = (stored?.body.output as { id: string }[] | undefined)?.find((output) => output.id === itemId);
        if (!item) throw notFound(`No item with id '${itemId}' found in your stored responses.`, `input[${at}]`);
        return item as InputItem;
      };
      const { conversation, from, handedOn } = await toResponseConversation(body, prior, resolve);
      const echo = echoOf(body);
      if (body.store !== false) {
        if (JSON.stringify(handedOn).length > maxStoredConversationChars) {
          throw badParam('input', 'The conversation is too long to store: continue it in a new one, or send store: false');
        }
        conversation.onSettled = storeOnSettled(caller, handedOn, echo);
      }
      const started = await lifecycle.start(caller, ip, conversation, {
        model: body.model,
        partParam: (turn, part) => ((from[turn] ?? -1) < 0 ? 'previous_response_id' : `input[${from[turn]}].content[${part}]`),
      });
      return { started, echo };
    },

    /** The caller's stored Response object; OpenAI's 404 when they have none with that id. */
    find: async (userId: string, id: string) => (await load(userId, id, null)).body,

    /** Deletes the caller's stored response; OpenAI's 404 when they have none with that id. */
    async remove(userId: string, id: string): Promise<{ id: string; object: 'response.deleted'; deleted: true }> {
      if (!isResponseId(id) || !(await repo.remove(userId, id))) throw notFound(`No response with id '${id}' found.`, null);
      return { id, object: 'response.deleted', deleted: true };
    },

    /** Housekeeping: removes the responses past RESPONSES_TTL_SECONDS. */
    sweep: async (): Promise<Record<string, number>> => ({ responses: await repo.removeExpired() }),
  };
}

export type ResponsesService = ReturnType<typeof createResponsesService>;
