// A fake LLM upstream that speaks the OpenAI, Anthropic and Ollama wire formats, so the
// app's providers can be exercised through the real SDKs. See llm-upstream.test.ts.
import { anthropicError, anthropicModels, messages } from './anthropic-wire.ts';
import { OllamaState, ollamaError } from './ollama-wire.ts';
import { chatCompletions, openaiError, openaiModels } from './openai-wire.ts';
import {
  ClientGone,
  type Ctx,
  createCtx,
  type FakeUpstreamOptions,
  presentedKey,
  type RecordedRequest,
  type Registry,
  resolveOptions,
  retryHeaders,
} from './upstream-core.ts';

export { fakeLogprob } from './openai-wire.ts';
export { expectedToolArguments, sampleFor, TOOL_SCENARIO_MODELS } from './tool-calls.ts';
export type { FakeUpstreamOptions, RecordedRequest, ScenarioModel } from './upstream-core.ts';
export {
  expectedReasoning,
  expectedReply,
  LONG_REPLY_EXTRA_WORDS,
  PARTIAL_WORDS,
  SCENARIO_MODELS,
  SLOW_REPLY_EXTRA_WORDS,
  splitWords,
  WHOLE_ANSWER_CHUNKS,
} from './upstream-core.ts';

export interface FakeUpstream {
  /** e.g. `http://127.0.0.1:41234` */
  readonly url: string;
  /** `${url}/v1` for `new OpenAI({ baseURL })`. */
  readonly openaiBaseURL: string;
  /** `url` without `/v1`: the Anthropic SDK appends `/v1` itself. */
  readonly anthropicBaseURL: string;
  readonly ollamaBaseURL: string;
  /** Every request in arrival order; records are updated in place (`aborted`, `completed`). */
  readonly requests: RecordedRequest[];
  /** Pending server-side timers; 0 once every slow response finished or was aborted. */
  readonly activeTimers: number;
  /** Clears recorded requests and queued failures, and restores Ollama's loaded models. */
  reset(): void;
  /**
   * The next `count` generation requests answer `status` with `body` (default: the provider's error
   * shape) and `headers` (default: retry hints for 429 and 5xx, see retryHeaders).
   */
  failNext(count: number, status: number, body?: unknown, headers?: Record<string, string>): void;
  stop(): Promise<void>;
}

type Dialect = 'openai' | 'anthropic' | 'ollama';

interface Route {
  dialect: Dialect | ((ctx: Ctx) => Dialect);
  /** Counts for `failNext`. */
  generation: boolean;
  handle: (ctx: Ctx) => Response | Promise<Response>;
}

function errorFor(dialect: Dialect, status: number, message?: string): Response {
  if (dialect === 'anthropic') return anthropicError(status, message);
  if (dialect === 'ollama') return ollamaError(status, message);
  return openaiError(status, message);
}

export async function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const opts = resolveOptions(options);
  const reg: Registry = { timers: new Set(), lives: new Set(), seq: 0 };
  const requests: RecordedRequest[] = [];
  const failures: { status: number; body: unknown; headers: Record<string, string> | undefined }[] = [];
  const ollama = new OllamaState(opts.ollamaModels, opts.ollamaLoaded);

  // Both SDKs list models at GET /v1/models; only Anthropic's sends `anthropic-version`.
  const modelsDialect = (ctx: Ctx): Dialect => ('anthropic-version' in ctx.record.headers ? 'anthropic' : 'openai');

  const routes: Record<string, Route> = {
    'POST /v1/chat/completions': { dialect: 'openai', generation: true, handle: chatCompletions },
    'POST /v1/messages': { dialect: 'anthropic', generation: true, handle: messages },
    'GET /v1/models': {
      dialect: modelsDialect,
      generation: false,
      handle: (ctx) => (modelsDialect(ctx) === 'anthropic' ? anthropicModels(ctx) : openaiModels(ctx)),
    },
    'GET /api/tags': { dialect: 'ollama', generation: false, handle: () => ollama.tags() },
    'GET /api/ps': { dialect: 'ollama', generation: false, handle: () => ollama.ps() },
    'POST /api/show': { dialect: 'ollama', generation: false, handle: (ctx) => ollama.show(ctx) },
    'POST /api/generate': { dialect: 'ollama', generation: true, handle: (ctx) => ollama.generate(ctx) },
    'GET /api/version': { dialect: 'ollama', generation: false, handle: () => Response.json({ version: '0.12.0' }) },
    'GET /': { dialect: 'ollama', generation: false, handle: () => new Response('Ollama is running') },
  };

  async function dispatch(ctx: Ctx): Promise<Response> {
    const { method, path } = ctx.record;
    const route = routes[`${method} ${path}`];
    if (!route) {
      const dialect: Dialect = path.startsWith('/api/') ? 'ollama' : 'openai';
      return errorFor(dialect, 404, `No fake route for ${method} ${path}`);
    }
    const dialect = typeof route.dialect === 'function' ? route.dialect(ctx) : route.dialect;
    if (typeof ctx.body === 'string') {
      return errorFor(dialect, 400, 'Request body is not valid JSON');
    }
    if (opts.apiKey !== undefined && dialect !== 'ollama' && presentedKey(ctx.record.headers) !== opts.apiKey) {
      return errorFor(dialect, 401);
    }
    if (route.generation) {
      const failure = failures.shift();
      if (failure) {
        const response =
          failure.body === undefined ? errorFor(dialect, failure.status) : Response.json(failure.body, { status: failure.status });
        const headers = failure.headers ?? (failure.body === undefined ? {} : retryHeaders(failure.status));
        if (failure.headers) for (const name of ['retry-after', 'retry-after-ms']) response.headers.delete(name);
        for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
        return response;
      }
    }
    return route.handle(ctx);
  }

  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    // Slow scenarios may sit silent longer than Bun's 10 s default idle timeout.
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const headers = Object.fromEntries(req.headers.entries());
      const text = await req.text();
      let body: unknown;
      if (text) {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      const record: RecordedRequest = {
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams.entries()),
        headers,
        body,
        aborted: false,
        completed: false,
      };
      requests.push(record);
      const ctx = createCtx(req, body, record, opts, reg);
      try {
        const res = await dispatch(ctx);
        if (!ctx.streaming) ctx.finish();
        return res;
      } catch (e) {
        // The client left while we were waiting; nobody will read this.
        if (e instanceof ClientGone) return new Response(null, { status: 499 });
        throw e;
      }
    },
    error(e) {
      return openaiError(500, `fake upstream crashed: ${e.message}`);
    },
  });

  const url = `http://127.0.0.1:${server.port}`;
  return {
    url,
    openaiBaseURL: `${url}/v1`,
    anthropicBaseURL: url,
    ollamaBaseURL: url,
    requests,
    get activeTimers() {
      return reg.timers.size;
    },
    reset() {
      requests.length = 0;
      failures.length = 0;
      ollama.reset();
    },
    failNext(count, status, body, headers) {
      for (let i = 0; i < count; i++) failures.push({ status, body, headers });
    },
    async stop() {
      for (const life of reg.lives) life.abort();
      reg.lives.clear();
      for (const t of reg.timers) clearTimeout(t);
      reg.timers.clear();
      await server.stop(true);
    },
  };
}
