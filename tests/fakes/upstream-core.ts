// Shared plumbing for the fake LLM upstream: request records, scenario planning,
// abort-aware timers and frame streaming. The wire modules only depend on this file.

/** Model ids that trigger a scripted behaviour instead of a normal reply. */
export const SCENARIO_MODELS = [
  'fake-error-400',
  'fake-error-401',
  'fake-error-429',
  'fake-error-500',
  'fake-error-503',
  'fake-truncated',
  'fake-slow-first-token',
  'fake-slow',
  'fake-long',
  'fake-mid-stream-error',
  // How a stream ends (bug report case #5): the reply is exactly `the whole answer`, in two deltas.
  /** `finish_reason: null` on every chunk, then `[DONE]` (Anthropic: `stop_reason: null`, then `message_stop`). */
  'fake-no-finish-reason',
  /** `finish_reason: ""` on every chunk, then `[DONE]` (Anthropic: `stop_reason: ""`, then `message_stop`). */
  'fake-empty-finish-reason',
  /** PARTIAL_WORDS deltas, then the connection is closed abruptly: no finish reason, no `[DONE]` / `message_stop`. */
  'fake-cut',
  // Thinking before the answer (see expectedReasoning), then the normal reply.
  /** OpenAI-compatible `delta.reasoning_content` (DeepSeek, vLLM); Anthropic `thinking` blocks. */
  'fake-reasoning',
  /** OpenAI-compatible `delta.reasoning` (Ollama's /v1, OpenRouter); Anthropic as fake-reasoning. */
  'fake-reasoning-field',
  /** As fake-reasoning, one reasoning chunk every `slowChunkMs`, then the reply at once. */
  'fake-slow-reasoning',
  /** STALL_WORDS deltas, then nothing: the connection stays open and silent until the client goes away. */
  'fake-stall',
  /** PARTIAL_WORDS deltas, then a frame whose data is not JSON (a broken proxy, a buggy server). */
  'fake-malformed',
  // Text a database may refuse (see scriptedChunks): the reply is sent exactly as these chunks.
  /** A reply holding U+0000 (Postgres text cannot store NUL). */
  'fake-nul',
  /** Lone surrogates (no UTF-8 form), and a surrogate pair split across two chunks (a valid emoji). */
  'fake-lone-surrogate',
  /** A reply of HUGE_REPLY_WORDS distinct words, over 1 MB (past Postgres's tsvector limit), in chunks of HUGE_CHUNK_WORDS. */
  'fake-huge',
] as const;
export type ScenarioModel = (typeof SCENARIO_MODELS)[number];

/** Filler words appended to the reply of `fake-long` / `fake-slow`. */
export const LONG_REPLY_EXTRA_WORDS = 300;
export const SLOW_REPLY_EXTRA_WORDS = 50;
/** Deltas sent by `fake-truncated` / `fake-mid-stream-error` / `fake-cut` before they break off. */
export const PARTIAL_WORDS = 3;
/** Deltas sent by `fake-stall` before it falls silent. */
export const STALL_WORDS = 2;
/** How long `fake-stall` stays silent: longer than any test waits (the client's abort ends it first). */
export const STALL_MS = 10 * 60_000;
/** The deltas of `fake-no-finish-reason` / `fake-empty-finish-reason`, as in bug report case #5. */
export const WHOLE_ANSWER_CHUNKS = ['the whole ', 'answer'] as const;

export interface FakeUpstreamOptions {
  /** Delay before the first byte for `fake-slow-first-token` (default 3000). */
  slowFirstTokenMs?: number;
  /** Delay between deltas for `fake-slow` (default 200). */
  slowChunkMs?: number;
  /** When set, OpenAI/Anthropic routes answer 401 unless this key is presented. */
  apiKey?: string;
  openaiModels?: string[];
  anthropicModels?: string[];
  /** Installed Ollama models (`name:tag`); a bare name means `:latest`. */
  ollamaModels?: string[];
  /** Ollama models loaded in memory at start (and after `reset()`). */
  ollamaLoaded?: string[];
}

export interface ResolvedOptions {
  slowFirstTokenMs: number;
  slowChunkMs: number;
  apiKey: string | undefined;
  openaiModels: string[];
  anthropicModels: string[];
  ollamaModels: string[];
  ollamaLoaded: string[];
}

export function resolveOptions(opts: FakeUpstreamOptions = {}): ResolvedOptions {
  return {
    slowFirstTokenMs: opts.slowFirstTokenMs ?? 3000,
    slowChunkMs: opts.slowChunkMs ?? 200,
    apiKey: opts.apiKey,
    openaiModels: opts.openaiModels ?? ['gpt-4o-mini', 'gpt-4.1', 'o4-mini'],
    anthropicModels: opts.anthropicModels ?? ['claude-sonnet-4-6', 'claude-haiku-4-5', 'claude-opus-4-7'],
    ollamaModels: (opts.ollamaModels ?? ['llama3.2:latest', 'qwen2.5:0.5b']).map(ollamaName),
    ollamaLoaded: (opts.ollamaLoaded ?? []).map(ollamaName),
  };
}

export interface RecordedRequest {
  method: string;
  /** Pathname only; see `query` for the search params. */
  path: string;
  query: Record<string, string>;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  /** Parsed JSON body; the raw text if it was not JSON; undefined if empty. */
  body: unknown;
  /** The client went away before the response was fully sent. */
  aborted: boolean;
  /** The response (including every stream frame) was handed to the socket. */
  completed: boolean;
}

/** Ollama's default tag: `llama3.2` and `llama3.2:latest` are the same model. */
export function ollamaName(name: string): string {
  return name.includes(':') ? name : `${name}:latest`;
}

// ---------------------------------------------------------------- replies

export const HUGE_REPLY_WORDS = 160_000;
export const HUGE_CHUNK_WORDS = 4_000;

/** The exact chunks of the scenarios whose text is the point (fake-nul, fake-lone-surrogate, fake-huge). */
export function scriptedChunks(model: string | undefined, lastUserText: string): string[] | undefined {
  const base = `Fake reply to: ${lastUserText} `;
  if (model === 'fake-nul') return [base, 'nul\u0000here ', 'and \u0000\u0000 twice'];
  if (model === 'fake-lone-surrogate') {
    return [base, 'lone \ud800 sur', 'rogate, split \ud83d', '\ude00 pair, dangling \udbff', ' then \udc00 low, last \ud83d'];
  }
  if (model !== 'fake-huge') return undefined;
  const chunks = [base];
  for (let from = 1; from <= HUGE_REPLY_WORDS; from += HUGE_CHUNK_WORDS) {
    const to = Math.min(from + HUGE_CHUNK_WORDS - 1, HUGE_REPLY_WORDS);
    const words = Array.from({ length: to - from + 1 }, (_, i) => `w${from + i}`).join(' ');
    chunks.push(to < HUGE_REPLY_WORDS ? `${words} ` : words);
  }
  return chunks;
}

export function expectedReply(lastUserText: string, model?: string): string {
  const scripted = scriptedChunks(model, lastUserText);
  if (scripted) return scripted.join('');
  if (model === 'fake-no-finish-reason' || model === 'fake-empty-finish-reason') return WHOLE_ANSWER_CHUNKS.join('');
  const base = `Fake reply to: ${lastUserText}`;
  if (model === 'fake-long') return `${base} ${filler(LONG_REPLY_EXTRA_WORDS)}`;
  if (model === 'fake-slow') return `${base} ${filler(SLOW_REPLY_EXTRA_WORDS)}`;
  return base;
}

/** The thinking the fake-reasoning scenarios stream before their reply, word by word. */
export function expectedReasoning(lastUserText: string): string {
  return `Thinking about: ${lastUserText}`;
}

const REASONING_MODELS = new Set(['fake-reasoning', 'fake-reasoning-field', 'fake-slow-reasoning']);

function filler(n: number): string {
  return Array.from({ length: n }, (_, i) => `w${i + 1}`).join(' ');
}

/** Splits into word chunks that keep their whitespace, so `chunks.join('') === text`. */
export function splitWords(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? (text ? [text] : []);
}

export function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

export interface Plan {
  /** Answer this HTTP status instead of generating. */
  errorStatus: number | undefined;
  reply: string;
  /** The deltas actually sent (a prefix of the reply for broken scenarios). */
  chunks: string[];
  firstByteDelayMs: number;
  chunkDelayMs: number;
  /**
   * `cut`: the connection is closed abruptly after the chunks (truncated: the body ends cleanly);
   * `stall`: after the chunks nothing more is sent, the connection kept open (see stallFrame).
   */
  ending: 'normal' | 'truncated' | 'error' | 'cut' | 'stall' | 'malformed';
  /** The finish reason of a normal ending: `stop`, or what every chunk carries instead of one (null, ""). */
  finishReason: 'stop' | null | '';
  /** Thinking chunks sent before the reply (empty for most scenarios). */
  reasoning: string[];
  reasoningDelayMs: number;
  /** Where an OpenAI-compatible stream puts the thinking. */
  reasoningField: 'reasoning_content' | 'reasoning';
}

export function planFor(model: string, lastUserText: string, opts: ResolvedOptions): Plan {
  const reply = expectedReply(lastUserText, model);
  const words = scriptedChunks(model, lastUserText) ?? splitWords(reply);
  // Any fake-error-NNN works; the listed ones are the documented set.
  const err = /^fake-error-([45]\d\d)$/.exec(model);
  const wholeAnswer = model === 'fake-no-finish-reason' || model === 'fake-empty-finish-reason';
  const partial = model === 'fake-truncated' || model === 'fake-mid-stream-error' || model === 'fake-cut' || model === 'fake-malformed';
  return {
    errorStatus: err?.[1] ? Number(err[1]) : undefined,
    reply,
    chunks: wholeAnswer
      ? [...WHOLE_ANSWER_CHUNKS]
      : partial
        ? words.slice(0, PARTIAL_WORDS)
        : model === 'fake-stall'
          ? words.slice(0, STALL_WORDS)
          : words,
    firstByteDelayMs: model === 'fake-slow-first-token' ? opts.slowFirstTokenMs : 0,
    chunkDelayMs: model === 'fake-slow' ? opts.slowChunkMs : 0,
    ending:
      model === 'fake-truncated'
        ? 'truncated'
        : model === 'fake-mid-stream-error'
          ? 'error'
          : model === 'fake-cut'
            ? 'cut'
            : model === 'fake-stall'
              ? 'stall'
              : model === 'fake-malformed'
                ? 'malformed'
                : 'normal',
    finishReason: model === 'fake-no-finish-reason' ? null : model === 'fake-empty-finish-reason' ? '' : 'stop',
    reasoning: REASONING_MODELS.has(model) ? splitWords(expectedReasoning(lastUserText)) : [],
    reasoningDelayMs: model === 'fake-slow-reasoning' ? opts.slowChunkMs : 0,
    reasoningField: model === 'fake-reasoning-field' ? 'reasoning' : 'reasoning_content',
  };
}

// ---------------------------------------------------------------- per-request context

export interface Frame {
  text: string;
  /** Wait this long before sending the frame. */
  delayMs: number;
  /** Instead of sending `text`, close the connection abruptly (no clean end of the body). */
  cut?: boolean;
}

/** Server-wide bookkeeping so `stop()` can cancel every pending timer and stream. */
export interface Registry {
  timers: Set<ReturnType<typeof setTimeout>>;
  lives: Set<AbortController>;
  seq: number;
}

export interface Ctx {
  readonly req: Request;
  readonly url: URL;
  readonly body: unknown;
  readonly record: RecordedRequest;
  readonly opts: ResolvedOptions;
  /** Resolves after `ms`; rejects as soon as the client aborts or the server stops. */
  sleep(ms: number): Promise<void>;
  /** Streams frames in order, honouring their delays; stops early on abort. */
  stream(frames: Frame[], contentType: string, headers?: Record<string, string>): Response;
  nextId(prefix: string): string;
  readonly streaming: boolean;
  readonly gone: boolean;
  /** Marks a non-streamed response as delivered. */
  finish(): void;
}

export class ClientGone extends Error {
  constructor() {
    super('client went away');
  }
}

/** The last frame of a `stall` ending: silence for STALL_MS; the client's abort ends it (and marks the request aborted). */
export function stallFrame(): Frame {
  return { text: '', delayMs: STALL_MS };
}

/** How long a `cut` frame waits at least, so the frames sent before it reach the client first. */
const CUT_GRACE_MS = 30;

export function createCtx(req: Request, body: unknown, record: RecordedRequest, opts: ResolvedOptions, reg: Registry): Ctx {
  const life = new AbortController();
  reg.lives.add(life);
  let streaming = false;

  const finish = () => {
    record.completed = true;
    reg.lives.delete(life);
  };
  const clientGone = () => {
    if (!record.completed) record.aborted = true;
    life.abort();
    reg.lives.delete(life);
  };
  req.signal.addEventListener('abort', clientGone, { once: true });

  const sleep = (ms: number) =>
    new Promise<void>((resolve, reject) => {
      if (life.signal.aborted) return reject(new ClientGone());
      const onAbort = () => {
        clearTimeout(timer);
        reg.timers.delete(timer);
        reject(new ClientGone());
      };
      const timer = setTimeout(() => {
        reg.timers.delete(timer);
        life.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      reg.timers.add(timer);
      life.signal.addEventListener('abort', onAbort, { once: true });
    });

  const stream = (frames: Frame[], contentType: string, headers: Record<string, string> = {}) => {
    streaming = true;
    const enc = new TextEncoder();
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const frame = frames[i++];
        // A cut drops whatever the socket still holds: give the frames before it time to leave.
        const delayMs = frame?.cut ? Math.max(frame.delayMs, CUT_GRACE_MS) : (frame?.delayMs ?? 0);
        try {
          if (delayMs > 0) await sleep(delayMs);
        } catch {
          // Aborted or server stopping: the socket is going away, just end quietly.
          try {
            controller.close();
          } catch {}
          return;
        }
        if (frame?.cut) {
          // Erroring the body makes Bun drop the connection mid-response, as a crashed upstream
          // or a proxy that gives up would (an `undefined` reason keeps it from logging a stack).
          reg.lives.delete(life);
          controller.error(undefined);
          return;
        }
        if (frame) controller.enqueue(enc.encode(frame.text));
        if (i >= frames.length) {
          controller.close();
          finish();
        }
      },
      cancel: clientGone,
    });
    return new Response(body, {
      headers: { 'content-type': contentType, 'cache-control': 'no-cache', ...headers },
    });
  };

  return {
    req,
    url: new URL(req.url),
    body,
    record,
    opts,
    sleep,
    stream,
    nextId: (prefix) => `${prefix}${(++reg.seq).toString().padStart(6, '0')}`,
    get streaming() {
      return streaming;
    },
    get gone() {
      return life.signal.aborted;
    },
    finish,
  };
}

// ---------------------------------------------------------------- small helpers

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return Response.json(body, { status, headers });
}

/** Retry hints for retryable statuses. `retry-after-ms` keeps SDK retries fast (the Anthropic SDK treats `retry-after: 0` as "use default backoff"). */
export function retryHeaders(status: number): Record<string, string> {
  return status === 429 || status >= 500 ? { 'retry-after': '0', 'retry-after-ms': '1' } : {};
}

/** Text of `content` that is a string or an array of `{type:'text', text}` parts; other parts are ignored. */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((p): p is { type: 'text'; text: string } => isRecord(p) && p.type === 'text' && typeof p.text === 'string')
    .map((p) => p.text)
    .join(' ');
}

/** The image formats OpenAI and Anthropic take. */
export const IMAGE_MEDIA_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

/** Standard, padded base64, as both APIs require of image data. */
export function isBase64(data: unknown): data is string {
  return typeof data === 'string' && data.length > 0 && data.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(data);
}

export function isHttpUrl(url: unknown): url is string {
  return typeof url === 'string' && /^https?:\/\/[^\s]+$/.test(url);
}

/** The key a client presented, via `x-api-key` (Anthropic) or `Authorization: Bearer` (both SDKs). */
export function presentedKey(headers: Record<string, string>): string | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '')?.[1];
  return headers['x-api-key'] ?? bearer;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
