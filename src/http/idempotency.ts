// Idempotency-Key on every POST that creates something (IETF draft-ietf-httpapi-idempotency-key-header,
// as Stripe does it): a repeat of a request within IDEMPOTENCY_TTL_SECONDS gets the first result,
// not a second chat, a second user message or a second reply, on any instance (the record is in KV).
//
// A route opts in with one route option, `idempotent`:
//   true      the first response (status, body, the headers that matter) is kept and replayed;
//             a repeat while the first still runs is 409 `conflict` (the draft's answer).
//   'reply'   a route that starts a reply: as above, and a streamed reply is kept as its stream
//             id, so a repeat replays that stream from the start, or after `Last-Event-ID`, with
//             no new user message and no new upstream call; a repeat while the first runs waits
//             for it (a dropped `stream: false` call gets the same {userMessage, assistantMessage}).
//   'secret'  the response carries a secret (an API key) that KV must never hold: only the id of
//             what was created is kept, and a repeat is 409 `conflict` naming it.
//   { replay } a reply route whose stream is written in another wire format (OpenAI's chunks):
//             'reply', with the route's own way to replay a stream.
//
// The record: key = (caller's user id, method and route pattern, the header's value), hashed;
// value = `pending` with the request's fingerprint (method, path, query, body) while the first
// runs, under a short lease that the running request keeps renewing (a crashed instance frees
// the key within the lease), then the stored response for the full TTL. A repeat with another
// fingerprint is 422 naming `header.idempotency-key`. Failures (4xx, 5xx) are not kept: the key
// is released so that a corrected or later retry runs.
//
// `Last-Event-ID` alone on a POST (what fetch-event-source style clients send when they re-POST
// after a drop): event ids are stream entry ids (`<ms>-<seq>`), which do not name their stream,
// and two streams may share one. So a turn is found only through what the client repeats: a
// streamed reply started without a key is remembered as (user, method, path, body) → stream, and
// a re-POST of exactly that request carrying the id of one of that stream's events resumes it
// after that event. Anything else is a new request; the official way back is
// `GET /api/v1/streams/:streamId` with `Last-Event-ID`, and an Idempotency-Key is the reliable one.

import { createHash } from 'node:crypto';
import { Elysia, StatusMap, t } from 'elysia';
import type { StreamBuffers } from '../infra/kv/stream-buffers.ts';
import type { KeyValueStore } from '../infra/kv/types.ts';
import type { Logger } from '../infra/log/index.ts';
import { AppError, invalid } from './errors.ts';
import { isEventId } from './event-id.ts';
import { streamAsSse, streamIdOf } from './sse.ts';

/** Replays a kept stream in the route's own wire format; `afterId` resumes after that event. */
export type ReplayStream = (request: { body: unknown }, streamId: string, afterId?: string) => Response;

/** How a route takes part; see the top of this file. */
export type Idempotent = true | 'reply' | 'secret' | { replay: ReplayStream };

export type IdempotencyOptions = {
  kv: KeyValueStore;
  buffers: StreamBuffers;
  log: Logger;
  /** How long a key is remembered (IDEMPOTENCY_TTL_SECONDS). */
  ttlSeconds: number;
  /** Longest a repeat of a reply waits for the first to finish before it is told 409. */
  maxWaitMs: number;
  /** How long a keyless streamed reply can be resumed by a re-POST with Last-Event-ID (STREAM_TTL_SECONDS). */
  resumeTtlSeconds: number;
  /** Lease of a running first request, renewed while it runs (default 30 s). */
  leaseMs?: number;
};

export const idempotencyHeader = 'idempotency-key';
export const replayedHeader = 'idempotency-replayed';
const field = 'header.idempotency-key';
// 1 to 255 printable ASCII characters (space to tilde): checked here, and said in the OpenAPI header schema.
const keyPattern = '^[\\x20-\\x7e]{1,255}$';
const validKey = new RegExp(keyPattern);
// Response headers a replay repeats; the rest (request id, security headers) are the replay's own.
const keptHeaders = ['content-type', 'cache-control', 'location'];

type Pending = { state: 'pending'; fingerprint: string; owner: string };
type Kept =
  | { state: 'response'; fingerprint: string; status: number; headers: Record<string, string>; body: string }
  | { state: 'stream'; fingerprint: string; status: number; streamId: string }
  | { state: 'created'; fingerprint: string; status: number; id: string };
type Entry = Pending | Kept;

/** What this request did with its key, from beforeHandle to the response. */
type RequestState =
  | { kind: 'replayed' }
  | { kind: 'turn'; turnKey: string }
  | {
      kind: 'claimed';
      entryKey: string;
      channel: string;
      fingerprint: string;
      owner: string;
      mode: Idempotent;
      renew: Timer;
      settled: boolean;
    };

type HookContext = {
  request: Request;
  body: unknown;
  route: string;
  set: { status?: number | string; headers: Record<string, string | number> };
  caller?: { user?: { id: string } | null } | null;
  responseValue?: unknown;
};

const sha256 = (text: string | Uint8Array) => createHash('sha256').update(text).digest('hex');

/** The body as a value whose JSON is the same whatever the order of its keys; files by their bytes' hash. */
async function canonical(value: unknown): Promise<unknown> {
  if (value instanceof Blob) {
    const name = value instanceof File ? value.name : '';
    return { file: name, type: value.type, size: value.size, sha256: sha256(new Uint8Array(await value.arrayBuffer())) };
  }
  if (Array.isArray(value)) return Promise.all(value.map(canonical));
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(await Promise.all(entries.map(async ([key, child]) => [key, await canonical(child)] as const)));
  }
  return value;
}

/** Method, path with query, and body: what must be the same for a request to be a repeat. */
async function fingerprintOf(request: Request, body: unknown): Promise<string> {
  const url = new URL(request.url);
  return sha256(`${request.method} ${url.pathname}${url.search}\n${JSON.stringify((await canonical(body)) ?? null)}`);
}

const statusOf = (set: HookContext['set'], response: unknown): number => {
  if (response instanceof Response) return response.status;
  if (typeof set.status === 'number') return set.status;
  if (typeof set.status === 'string') return (StatusMap as Record<string, number>)[set.status] ?? 200;
  return 200;
};

const unavailable = (cause: unknown) =>
  new AppError('unavailable', 'Idempotency keys cannot be checked right now; retry shortly', { headers: { 'retry-after': '1' }, cause });

const isReply = (mode: Idempotent) => mode === 'reply' || typeof mode === 'object';
const modeName = (mode: Idempotent) => (mode === true ? 'response' : isReply(mode) ? 'reply' : 'secret');

/**
 * The `idempotent` route option (see the top of this file). Used by every API module through the
 * route bundle (routes.ts), after the auth macros: it needs the caller they resolve.
 */
export function idempotency(options: IdempotencyOptions) {
  const { kv, buffers, log } = options;
  const ttlMs = options.ttlSeconds * 1000;
  const leaseMs = Math.min(options.leaseMs ?? 30_000, ttlMs);
  const states = new WeakMap<Request, RequestState>();

  const names = (userId: string, method: string, route: string, key: string) => {
    const id = `${userId}:${sha256(`${method} ${route}\n${key}`)}`;
    return { entryKey: `idempotency:${id}`, channel: `idempotency:settled:${id}` };
  };
  const turnKeyOf = (userId: string, fingerprint: string) => `idempotency:turn:${userId}:${fingerprint}`;

  const readEntry = async (key: string): Promise<Entry | null> => {
    const raw = await kv.get(key);
    if (!raw) return null;
    try {
      return JSON.parse(raw) as Entry;
    } catch {
      return null;
    }
  };

  /** Replays the kept stream `streamId` as the route writes it, after `afterId` when given. */
  const replayStream = async (mode: Idempotent, context: HookContext, streamId: string, afterId?: string): Promise<Response> => {
    if (!(await buffers.meta(streamId))) {
      throw new AppError('conflict', 'This request was answered already, and its stream has expired; read the result instead', {
        details: { streamId },
      });
    }
    const response = typeof mode === 'object' ? mode.replay(context, streamId, afterId) : streamAsSse(buffers, streamId, { afterId });
    response.headers.set(replayedHeader, 'true');
    return response;
  };

  const replay = async (entry: Kept, mode: Idempotent, context: HookContext, afterId?: string): Promise<Response> => {
    states.set(context.request, { kind: 'replayed' });
    if (entry.state === 'created') {
      throw new AppError(
        'conflict',
        `Already created with this Idempotency-Key: ${entry.id}. Its secret was shown once and is not kept; revoke it and create another if it was lost`,
        { details: { id: entry.id } },
      );
    }
    if (entry.state === 'stream') return replayStream(mode, context, entry.streamId, afterId);
    return new Response(entry.body, { status: entry.status, headers: { ...entry.headers, [replayedHeader]: 'true' } });
  };

  /** Notifications on a key's channel, with a poll as well: pub/sub delivers at most once, and a lease that lapses says nothing. */
  const watch = async (channel: string) => {
    let wake: (() => void) | undefined;
    let notified = false;
    const unsubscribe = await kv.subscribe(channel, () => {
      notified = true;
      wake?.();
    });
    return {
      async next(ms: number, signal: AbortSignal) {
        if (notified) {
          notified = false;
          return;
        }
        let timer: Timer | undefined;
        const onAbort = () => wake?.();
        signal.addEventListener('abort', onAbort);
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, ms);
        });
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        wake = undefined;
        notified = false;
      },
      close: () => unsubscribe().catch(() => undefined),
    };
  };

  /** A key's first request: run it. A repeat: replay, 422, 409, or (a reply) wait for the first. */
  async function begin(context: HookContext, mode: Idempotent): Promise<Response | undefined> {
    const { request } = context;
    const userId = context.caller?.user?.id;
    if (!userId) return undefined;
    const key = request.headers.get(idempotencyHeader);
    const lastEventId = request.headers.get('last-event-id') ?? undefined;
    if (key === null) return isReply(mode) ? resumeTurn(context, mode, userId, lastEventId) : undefined;
    if (!validKey.test(key)) throw invalid(field, 'must be 1 to 255 printable ASCII characters');
    if (lastEventId !== undefined && !isEventId(lastEventId)) throw invalid('header.last-event-id', 'is not an event id of a stream');
    const fingerprint = await fingerprintOf(request, context.body);
    const { entryKey, channel } = names(userId, request.method, context.route, key);
    const waits = isReply(mode);
    const deadline = Date.now() + options.maxWaitMs;
    let watcher: Awaited<ReturnType<typeof watch>> | undefined;
    try {
      // Subscribed before the first read, so a first request finishing in between is not missed.
      if (waits) watcher = await watch(channel);
      for (let vanished = 0; ; ) {
        const owner = crypto.randomUUID();
        const pending: Pending = { state: 'pending', fingerprint, owner };
        if (await kv.set(entryKey, JSON.stringify(pending), { ttlMs: leaseMs, onlyIfAbsent: true })) {
          const renew = setInterval(() => void renewLease(entryKey, owner), Math.max(Math.floor(leaseMs / 3), 50));
          renew.unref?.();
          states.set(request, { kind: 'claimed', entryKey, channel, fingerprint, owner, mode, renew, settled: false });
          return undefined;
        }
        const entry = await readEntry(entryKey);
        if (!entry) {
          // Released or lapsed since: claim it again (a value that is not ours to read would loop forever).
          if (++vanished > 5) throw unavailable(new Error(`${entryKey} cannot be claimed nor read`));
          continue;
        }
        if (entry.fingerprint !== fingerprint) {
          throw invalid(field, 'was already used for a different request (method, path or body); use a new key for a new request');
        }
        if (entry.state !== 'pending') return await replay(entry, mode, context, lastEventId);
        if (!watcher || Date.now() >= deadline || request.signal.aborted) {
          throw new AppError('conflict', 'A request with this Idempotency-Key is still being processed; retry later', {
            headers: { 'retry-after': '1' },
          });
        }
        await watcher.next(Math.min(500, Math.max(deadline - Date.now(), 1)), request.signal);
      }
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw unavailable(error);
    } finally {
      await watcher?.close();
    }
  }

  /** Without a key: a re-POST of the same request naming an event of its stream resumes it (see the top of this file). */
  async function resumeTurn(context: HookContext, mode: Idempotent, userId: string, lastEventId?: string): Promise<Response | undefined> {
    const turnKey = turnKeyOf(userId, await fingerprintOf(context.request, context.body));
    states.set(context.request, { kind: 'turn', turnKey });
    if (lastEventId === undefined || !isEventId(lastEventId)) return undefined;
    try {
      const streamId = await kv.get(turnKey);
      if (!streamId) return undefined;
      const { events } = await buffers.snapshot(streamId);
      if (!events.some((event) => event.id === lastEventId)) return undefined;
      states.set(context.request, { kind: 'replayed' });
      return await replayStream(mode, context, streamId, lastEventId);
    } catch (error) {
      if (error instanceof AppError) throw error;
      // Without the record the request is simply new, as it would be with no Last-Event-ID.
      log.warn('cannot look up a resumed turn', { error: (error as Error).message });
      return undefined;
    }
  }

  async function renewLease(entryKey: string, owner: string): Promise<void> {
    try {
      const entry = await readEntry(entryKey);
      if (entry?.state === 'pending' && entry.owner === owner) await kv.set(entryKey, JSON.stringify(entry), { ttlMs: leaseMs });
    } catch {
      // The next renewal tries again; a lease that lapses lets a repeat run, no worse than no key.
    }
  }

  /** The value to keep for a response, or null when it cannot be replayed (then the key is released). */
  async function toKept(state: Extract<RequestState, { kind: 'claimed' }>, context: HookContext, status: number): Promise<Kept | null> {
    const value = context.responseValue;
    const { fingerprint } = state;
    if (value instanceof Response) {
      const streamId = streamIdOf(value);
      if (streamId) return { state: 'stream', fingerprint, status, streamId };
      const type = value.headers.get('content-type') ?? '';
      if (!/json/i.test(type) || state.mode === 'secret') return null;
      const headers: Record<string, string> = {};
      for (const name of keptHeaders) {
        const header = value.headers.get(name);
        if (header) headers[name] = header;
      }
      return { state: 'response', fingerprint, status, headers, body: await value.clone().text() };
    }
    if (value === null || typeof value !== 'object') return null;
    if (state.mode === 'secret') {
      const id = (value as { id?: unknown }).id;
      return typeof id === 'string' ? { state: 'created', fingerprint, status, id } : null;
    }
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    for (const name of keptHeaders) {
      const header = context.set.headers[name];
      if (header !== undefined) headers[name] = String(header);
    }
    return { state: 'response', fingerprint, status, headers, body: JSON.stringify(value) };
  }

  /** Keeps a success for the TTL, or releases the key after a failure; then wakes any waiting repeat. */
  async function finish(context: HookContext): Promise<void> {
    const state = states.get(context.request);
    if (!state || state.kind === 'replayed') return;
    const status = statusOf(context.set, context.responseValue);
    if (state.kind === 'turn') {
      const streamId = status < 300 ? streamIdOf(context.responseValue) : undefined;
      if (streamId) await kv.set(state.turnKey, streamId, { ttlMs: options.resumeTtlSeconds * 1000 }).catch(() => undefined);
      return;
    }
    if (state.settled) return;
    state.settled = true;
    clearInterval(state.renew);
    try {
      const kept = status >= 200 && status < 300 ? await toKept(state, context, status) : null;
      if (kept) await kv.set(state.entryKey, JSON.stringify(kept), { ttlMs });
      else await release(state);
      await kv.publish(state.channel, kept ? 'kept' : 'released');
    } catch (error) {
      // The response still goes out; the lease lapses on its own, after which a repeat runs again.
      log.warn('cannot keep an idempotent response', { error: (error as Error).message });
    }
  }

  /** Deletes the key if this request still holds it. */
  async function release(state: Extract<RequestState, { kind: 'claimed' }>): Promise<void> {
    const entry = await readEntry(state.entryKey);
    if (entry?.state === 'pending' && entry.owner === state.owner) await kv.del(state.entryKey);
  }

  /** A request that ended without its response being mapped (it should not happen): let go of its key. */
  async function abandon(request: Request): Promise<void> {
    const state = states.get(request);
    if (state?.kind !== 'claimed' || state.settled) return;
    state.settled = true;
    clearInterval(state.renew);
    await release(state).catch(() => undefined);
    await kv.publish(state.channel, 'released').catch(() => undefined);
  }

  // The rule is documented here and checked in begin() (validKey): Elysia is not to check it
  // (t.Unknown checks nothing), or a bad key would be refused before auth, naming
  // `headers.idempotency-key` instead of the contract's `header.idempotency-key`.
  const headers = t.Object({
    [idempotencyHeader]: t.Optional(
      t.Unknown({
        type: 'string',
        description:
          'Makes this POST safe to retry: 1–255 printable ASCII characters, unique per request (a UUID). A repeat with the same key ' +
          'within IDEMPOTENCY_TTL_SECONDS (24 h) gets the first result with `Idempotency-Replayed: true` (a streamed reply is ' +
          'replayed, after `Last-Event-ID` when sent) instead of creating anything; the same key with another body is 422, and ' +
          'while the first still runs it is 409 (a reply waits for it instead). Keys are per user.',
        minLength: 1,
        maxLength: 255,
        pattern: keyPattern,
        examples: ['3f6c1b9e-5d2a-4c7e-9a41-2b8f0d6e7c15'],
      }),
    ),
  });

  return new Elysia({ name: 'idempotency' }).macro({
    idempotent: (mode: Idempotent) => ({
      headers,
      detail: { 'x-idempotent': modeName(mode) } as never,
      beforeHandle: (context: unknown) => begin(context as HookContext, mode),
      mapResponse: async (context: unknown) => {
        await finish(context as HookContext);
      },
      afterResponse: (context: unknown) => abandon((context as HookContext).request),
    }),
  });
}

export type Idempotency = ReturnType<typeof idempotency>;
