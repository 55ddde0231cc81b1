// The load generator of bench/concurrency.ts, run as a child process so N client sockets cost
// neither Parley's nor the fake upstream's event loop. It is not run by hand: concurrency.ts
// passes a job as JSON in argv[2] and reads JSON lines from stdout ({phase:"go"} when the timed
// part starts, then {result}). Setup (users, chats, connections) happens before "go", untimed.
//
// SSE replies go over raw TCP (Bun.connect), connected before "go" and then all sent at once:
// fetch would cap at 256 connections and open N sockets in one burst, which overflows the
// listen backlog and measures SYN retransmits instead of Parley. Websockets likewise are open
// and `ready` before "go". Tokens are bench/pace-upstream.ts's TOKEN_TEXT; Parley may coalesce
// several into one delta, so they are counted by length.
import type { Socket } from 'bun';
import { percentile } from './lib.ts';
import { TOKEN_TEXT } from './pace-upstream.ts';

export type ClientJob = {
  mode: 'sse' | 'ws';
  url: string;
  n: number;
  model: string;
  tokens: number;
  /** The pace's gap between tokens: the last token is ideally (tokens - 1) × ms after the first. */
  ms: number;
  /** Access tokens to spread replies over; empty in ws mode means one guest per socket. */
  users: string[];
  timeoutMs: number;
  /** A quick model for the untimed warm-up. */
  warmModel: string;
};

export type Stats = { p50: number; p99: number; max: number };
export type ClientResult = {
  n: number;
  completed: number;
  errors: Record<string, number>;
  setupMs: number;
  wallMs: number;
  /** ms from sending the request to reading the first token (the pace's ideal is 0). */
  ttft: Stats;
  /** ms by which the last token came later than (tokens - 1) × ms after sending. */
  lastLate: Stats;
  /** Websocket frames that were not this socket's reply (user events). */
  otherFrames: number;
  /** This process's CPU use from "go" to the result, as a share of one core. */
  cpu: number;
  /** The first few distinct error messages. */
  errorSamples: string[];
};

const now = () => performance.now();

type Rec = { sent: number; last: number; tokens: number; done: boolean; error?: string };

function collector(job: ClientJob) {
  const recs: Rec[] = [];
  const ttft: number[] = [];
  const lastLate: number[] = [];
  const ideal = (job.tokens - 1) * job.ms;
  let finished = 0;
  let lastEnd = 0;
  const errorSamples = new Set<string>();
  let resolveAll!: () => void;
  const all = new Promise<void>((resolve) => (resolveAll = resolve));
  const end = (rec: Rec, error?: string) => {
    if (rec.done || rec.error) return;
    if (error) rec.error = error;
    else if (rec.tokens !== job.tokens) rec.error = `got ${rec.tokens}/${job.tokens} tokens`;
    else {
      rec.done = true;
      lastLate.push(rec.last - rec.sent - ideal);
    }
    lastEnd = now();
    if (++finished === recs.length) resolveAll();
  };
  return {
    recs,
    all,
    end,
    sample(message: string) {
      if (errorSamples.size < 5) errorSamples.add(message);
    },
    /** A delta as it arrived: `count` tokens' worth of text. */
    delta(rec: Rec, count: number) {
      const at = now();
      if (rec.tokens === 0) ttft.push(at - rec.sent);
      rec.tokens += count;
      rec.last = at;
    },
    result(started: number, cpuAtStart: NodeJS.CpuUsage, setupMs: number, otherFrames: number): ClientResult {
      const cpu = process.cpuUsage(cpuAtStart);
      const errors: Record<string, number> = {};
      for (const rec of recs) {
        const error = rec.error ?? (rec.done ? undefined : 'timeout');
        if (error) errors[error] = (errors[error] ?? 0) + 1;
      }
      const stats = (values: number[]): Stats => {
        const sorted = values.sort((a, b) => a - b);
        return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN };
      };
      return {
        n: recs.length,
        completed: recs.filter((r) => r.done).length,
        errors,
        setupMs,
        wallMs: (lastEnd || now()) - started,
        ttft: stats(ttft),
        lastLate: stats(lastLate),
        otherFrames,
        cpu: (cpu.user + cpu.system) / 1000 / (now() - started),
        errorSamples: [...errorSamples],
      };
    },
  };
}

/** Tokens in an SSE delta block: its data is {"text":" tok tok"}. */
function tokensIn(block: string): number {
  const text = /"text":"([^"]*)"/.exec(block)?.[1] ?? '';
  return text.length / TOKEN_TEXT.length;
}

/** Some short replies before the timed part: the first call loads the OpenAI SDK and warms the JIT. */
async function warmUp(job: ClientJob, token: string): Promise<void> {
  await pool(Array.from({ length: 50 }), 10, async () => {
    const response = await fetch(`${job.url}/api/v1/chat/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'warm up', provider: 'openai', model: job.warmModel }),
    });
    await response.text();
  });
}

/** Runs `work` over items, `limit` at a time. */
async function pool<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        out[index] = await work(items[index]!, index);
      }
    }),
  );
  return out;
}

async function api<T>(url: string, method: string, path: string, token?: string, body?: unknown): Promise<T> {
  const response = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return (response.status === 204 ? undefined : await response.json()) as T;
}

/** Incremental HTTP/1.1 response reader: status, then a chunked (or sized) body as latin1 text. */
function httpReader(onStatus: (status: number) => void, onBody: (text: string) => void) {
  let buffer = '';
  let head = true;
  let chunked = false;
  let need = -1; // bytes left in the current chunk; -1 while reading a size line
  return (data: Buffer) => {
    buffer += data.toString('latin1');
    if (head) {
      const at = buffer.indexOf('\r\n\r\n');
      if (at < 0) return;
      const headers = buffer.slice(0, at);
      onStatus(Number(headers.slice(9, 12)));
      chunked = /\r\ntransfer-encoding:\s*chunked/i.test(headers);
      buffer = buffer.slice(at + 4);
      head = false;
    }
    if (!chunked) {
      onBody(buffer);
      buffer = '';
      return;
    }
    for (;;) {
      if (need < 0) {
        const eol = buffer.indexOf('\r\n');
        if (eol < 0) return;
        need = Number.parseInt(buffer.slice(0, eol), 16);
        buffer = buffer.slice(eol + 2);
        if (need === 0) return;
      }
      if (buffer.length < need + 2) return;
      onBody(buffer.slice(0, need));
      buffer = buffer.slice(need + 2);
      need = -1;
    }
  };
}

async function runSse(job: ClientJob) {
  const c = collector(job);
  const { hostname, port } = new URL(job.url);
  const sockets: Socket[] = [];
  const setupStarted = now();
  await warmUp(job, job.users[0]!);
  // Connected in batches: a burst of thousands of SYNs overflows the accept queue.
  await pool(Array.from({ length: job.n }), 256, async (_, index) => {
    const rec: Rec = { sent: 0, last: 0, tokens: 0, done: false };
    c.recs[index] = rec;
    let sse = '';
    const read = httpReader(
      (status) => status !== 200 && c.end(rec, `HTTP ${status}`),
      (text) => {
        sse += text;
        for (let at = sse.indexOf('\n\n'); at >= 0; at = sse.indexOf('\n\n')) {
          const block = sse.slice(0, at);
          sse = sse.slice(at + 2);
          if (block.includes('event: delta')) c.delta(rec, tokensIn(block));
          else if (block.includes('event: done')) c.end(rec);
          else if (block.includes('event: error')) {
            c.sample(block.slice(block.indexOf('data: ') + 6));
            c.end(rec, 'error event');
          }
        }
        if (rec.done || rec.error) socketOf.end();
      },
    );
    const socketOf = await Bun.connect({
      hostname,
      port: Number(port),
      socket: { data: (_s, data) => read(data), close: () => c.end(rec, 'closed early'), error: () => c.end(rec, 'socket error') },
    });
    sockets[index] = socketOf;
  });
  const setupMs = now() - setupStarted;
  const requests = job.users.map((token) => {
    const body = JSON.stringify({ message: 'hi', provider: 'openai', model: job.model });
    return `POST /api/v1/chat/stream HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  });
  console.log(JSON.stringify({ phase: 'go' }));
  const started = now();
  const cpuAtStart = process.cpuUsage();
  for (const [index, socket] of sockets.entries()) {
    c.recs[index]!.sent = now();
    socket.write(requests[index % requests.length]!);
  }
  await Promise.race([c.all, Bun.sleep(job.timeoutMs)]);
  const result = c.result(started, cpuAtStart, setupMs, 0);
  for (const socket of sockets) socket.end();
  return result;
}

async function runWs(job: ClientJob) {
  const c = collector(job);
  const setupStarted = now();
  // One guest per socket unless users were given: every socket gets its user's events, so N
  // sockets on a handful of users would be N²/users event frames, not N replies.
  const tokens = job.users.length
    ? Array.from({ length: job.n }, (_, i) => job.users[i % job.users.length]!)
    : await pool(
        Array.from({ length: job.n }),
        32,
        async () => (await api<{ accessToken: string }>(job.url, 'POST', '/auth/guest')).accessToken,
      );
  await warmUp(job, tokens[0]!);
  const chats = await pool(
    tokens,
    32,
    async (token) => (await api<{ id: string }>(job.url, 'POST', '/chats', token, { provider: 'openai', model: job.model })).id,
  );
  let otherFrames = 0;
  const wsUrl = job.url.replace(/^http/, 'ws');
  const sockets = await pool(tokens, 128, (token, index) => {
    const rec: Rec = { sent: 0, last: 0, tokens: 0, done: false };
    c.recs[index] = rec;
    return new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`${wsUrl}/api/v1/ws?token=${encodeURIComponent(token)}`);
      ws.onmessage = (message) => {
        const frame = JSON.parse(String(message.data)) as {
          type: string;
          requestId?: number;
          text?: string;
          code?: string;
          message?: string;
        };
        if (frame.type === 'ready') resolve(ws);
        else if (frame.type === 'error') {
          c.sample(`${frame.code}: ${frame.message}`);
          c.end(rec, 'error frame');
        } else if (frame.requestId !== index) otherFrames++;
        else if (frame.type === 'delta') c.delta(rec, (frame.text ?? '').length / TOKEN_TEXT.length);
        else if (frame.type === 'done') c.end(rec);
      };
      ws.onclose = () => {
        reject(new Error('closed before ready'));
        c.end(rec, 'closed early');
      };
    });
  });
  const setupMs = now() - setupStarted;
  otherFrames = 0; // message.created etc. of the chats created above
  console.log(JSON.stringify({ phase: 'go' }));
  const started = now();
  const cpuAtStart = process.cpuUsage();
  for (const [index, ws] of sockets.entries()) {
    c.recs[index]!.sent = now();
    ws.send(
      JSON.stringify({ type: 'chat.send', chatId: chats[index], content: 'hi', provider: 'openai', model: job.model, requestId: index }),
    );
  }
  await Promise.race([c.all, Bun.sleep(job.timeoutMs)]);
  const result = c.result(started, cpuAtStart, setupMs, otherFrames);
  for (const ws of sockets) ws.close();
  return result;
}

if (import.meta.main) {
  const job = JSON.parse(process.argv[2]!) as ClientJob;
  const result = job.mode === 'sse' ? await runSse(job) : await runWs(job);
  console.log(JSON.stringify({ result }));
  process.exit(0);
}
