// A paced OpenAI Chat Completions upstream for bench/latency.ts, run as its own process so its
// CPU is not the load generator's. tests/fakes/llm-upstream.ts replies with words of a fixed
// text and one delay for all of them; timing needs the token count and pace in the request:
//
//   model `pace-<tokens>-<ms>[-<firstMs>]`: the role chunk at once, then after `firstMs` (default
//   0) the first of `tokens` deltas of TOKEN_TEXT, each later one `ms` after the previous; with
//   ms = 0 every delta leaves in one write. Then finish_reason, usage if asked, `data: [DONE]`.
//
//   PORT=8899 bun bench/pace-upstream.ts      prints http://127.0.0.1:8899 (GET /health → 200)

/** Every delta's text; 4 characters, so a reader counts tokens as characters / 4. */
export const TOKEN_TEXT = ' tok';

export type Pace = { tokens: number; ms: number; firstMs: number };

export function parsePace(model: string): Pace | undefined {
  const match = /^pace-(\d+)-(\d+)(?:-(\d+))?$/.exec(model);
  return match ? { tokens: Number(match[1]), ms: Number(match[2]), firstMs: Number(match[3] ?? 0) } : undefined;
}

const encoder = new TextEncoder();
let seq = 0;

function completions(body: Record<string, unknown>): Response {
  const model = String(body.model);
  const pace = parsePace(model);
  if (!pace)
    return Response.json(
      {
        error: {
          message: `unknown model ${model}; use pace-<tokens>-<ms>[-<firstMs>]`,
          type: 'invalid_request_error',
          param: 'model',
          code: 'model_not_found',
        },
      },
      { status: 404 },
    );
  const id = `chatcmpl-pace${++seq}`;
  const created = Math.floor(Date.now() / 1000);
  const usage = { prompt_tokens: 1, completion_tokens: pace.tokens, total_tokens: pace.tokens + 1 };
  const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
  // Only the delta differs between chunks, so each frame is a prefix + JSON delta + suffix.
  const head = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":"${model}","system_fingerprint":"fp_pace","choices":[{"index":0,"delta":`;
  const tail = `,"logprobs":null,"finish_reason":null}]${includeUsage ? ',"usage":null' : ''}}\n\n`;
  const tokenFrame = `${head}{"content":${JSON.stringify(TOKEN_TEXT)}}${tail}`;
  const finish =
    `${head}{},"logprobs":null,"finish_reason":"stop"}]${includeUsage ? ',"usage":null' : ''}}\n\n` +
    (includeUsage
      ? `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":"${model}","choices":[],"usage":${JSON.stringify(usage)}}\n\n`
      : '') +
    'data: [DONE]\n\n';

  if (body.stream !== true) {
    const content = TOKEN_TEXT.repeat(pace.tokens);
    return Response.json({
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage,
    });
  }
  const { tokens, ms, firstMs } = pace;
  async function* frames() {
    yield encoder.encode(`${head}{"role":"assistant","content":"","refusal":null}${tail}`);
    if (firstMs > 0) await Bun.sleep(firstMs);
    if (ms === 0) {
      yield encoder.encode(tokenFrame.repeat(tokens) + finish);
      return;
    }
    const frame = encoder.encode(tokenFrame);
    for (let i = 0; i < tokens; i++) {
      if (i > 0) await Bun.sleep(ms);
      yield frame;
    }
    yield encoder.encode(finish);
  }
  return new Response(frames(), {
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': `req_${seq}` },
  });
}

export function startPaceUpstream(port = 0, hostname = '127.0.0.1') {
  return Bun.serve({
    port,
    hostname,
    idleTimeout: 0, // a slow pace may be silent longer than Bun's 10 s default
    async fetch(req) {
      const { pathname } = new URL(req.url);
      if (req.method === 'GET' && pathname === '/health') return Response.json({ status: 'ok' });
      if (req.method === 'GET' && pathname === '/v1/models') return Response.json({ object: 'list', data: [] });
      if (req.method === 'POST' && pathname === '/v1/chat/completions') return completions((await req.json()) as Record<string, unknown>);
      return Response.json({ error: { message: `no route ${req.method} ${pathname}`, type: 'invalid_request_error' } }, { status: 404 });
    },
  });
}

if (import.meta.main) {
  const server = startPaceUpstream(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1');
  console.log(`http://${server.hostname}:${server.port}`);
  process.on('SIGTERM', () => server.stop(true).then(() => process.exit(0)));
}
