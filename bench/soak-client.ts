// The load generator of bench/soak.ts, run as a child process (not by hand): a job as JSON in
// argv[2], {phase:"go"} then {result} as JSON lines on stdout. Open loop: each kind of request
// starts on its own timer at a fixed rate whether or not earlier ones finished (up to a cap per
// kind, past which a start is counted as skipped), so a slow Parley shows as latency and skips
// rather than as a quietly lower rate. Every reply is checked for all its tokens.
import { percentile } from './lib.ts';
import { TOKEN_TEXT } from './pace-upstream.ts';

export type SoakJob = {
  url: string;
  users: { email: string; password: string; accessToken: string }[];
  seconds: number;
  model: string;
  tokens: number;
  /** Starts per second of each kind; `ws` is the number of sockets kept open. */
  rates: { login: number; list: number; stream: number; stored: number; resume: number; wsReplies: number };
  sockets: number;
};

export type KindStats = { count: number; errors: number; skipped: number; p50: number; p99: number };
export type SoakResult = { kinds: Record<string, KindStats>; errorSamples: string[] };

type SseEvent = { id: string; event: string; data: string };

/** Reads SSE events from a fetch body; `onEvent` returning true stops reading (and cancels). */
async function readSse(response: Response, onEvent: (event: SseEvent) => boolean | undefined): Promise<void> {
  if (!response.ok || !response.body) throw new Error(`HTTP ${response.status} ${await response.text()}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += decoder.decode(value, { stream: true });
    for (let at = buffered.indexOf('\n\n'); at >= 0; at = buffered.indexOf('\n\n')) {
      const event: SseEvent = { id: '', event: '', data: '' };
      for (const line of buffered.slice(0, at).split('\n')) {
        if (line.startsWith('id: ')) event.id = line.slice(4);
        else if (line.startsWith('event: ')) event.event = line.slice(7);
        else if (line.startsWith('data: ')) event.data = line.slice(6);
      }
      buffered = buffered.slice(at + 2);
      if (event.event && onEvent(event)) {
        await reader.cancel();
        return;
      }
    }
  }
}

const tokensOf = (data: string) => ((JSON.parse(data) as { text: string }).text ?? '').length / TOKEN_TEXT.length;

async function run(job: SoakJob): Promise<SoakResult> {
  const kinds = new Map<string, { latencies: number[]; errors: number; skipped: number; inFlight: number }>();
  const errorSamples: string[] = [];
  const kind = (name: string) => {
    let entry = kinds.get(name);
    if (!entry) kinds.set(name, (entry = { latencies: [], errors: 0, skipped: 0, inFlight: 0 }));
    return entry;
  };
  const fail = (name: string, error: unknown) => {
    kind(name).errors++;
    if (errorSamples.length < 10) errorSamples.push(`${name}: ${(error as Error).message ?? error}`);
  };
  /** Times `work` under `name`; a thrown error counts as that kind's error. */
  const timed = async (name: string, work: () => Promise<void>) => {
    const entry = kind(name);
    entry.inFlight++;
    const started = performance.now();
    try {
      await work();
      entry.latencies.push(performance.now() - started);
    } catch (error) {
      fail(name, error);
    } finally {
      entry.inFlight--;
    }
  };
  let turn = 0;
  const pick = () => job.users[turn++ % job.users.length]!;
  const call = async (method: string, path: string, token: string, body?: unknown, accept = 'application/json') => {
    const response = await fetch(`${job.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, accept, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    if (accept !== 'text/event-stream' && !response.ok)
      throw new Error(`${method} ${path}: HTTP ${response.status} ${await response.text()}`);
    return response;
  };
  /** Reads a reply's SSE to `done`, checking every token came exactly once. */
  const wholeReply = async (response: Response) => {
    let tokens = 0;
    let done = false;
    await readSse(response, (event) => {
      if (event.event === 'delta') tokens += tokensOf(event.data);
      if (event.event === 'error') throw new Error(`error event ${event.data}`);
      done = event.event === 'done';
    });
    if (!done || tokens !== job.tokens) throw new Error(`reply ended after ${tokens}/${job.tokens} tokens${done ? '' : ' without done'}`);
  };
  const message = { message: 'hi', provider: 'openai', model: job.model };

  const work: Record<keyof SoakJob['rates'], () => Promise<void>> = {
    login: async () => {
      const user = pick();
      const response = await fetch(`${job.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: user.email, password: user.password }),
      });
      if (!response.ok) throw new Error(`login: HTTP ${response.status}`);
      user.accessToken = ((await response.json()) as { accessToken: string }).accessToken;
    },
    list: async () => void (await (await call('GET', '/chats?limit=20', pick().accessToken)).arrayBuffer()),
    stream: async () => wholeReply(await call('POST', '/chat/stream', pick().accessToken, message, 'text/event-stream')),
    // A stored reply in a chat of its own, deleted afterwards, so the database stays the same size.
    stored: async () => {
      const token = pick().accessToken;
      const chat = (await (await call('POST', '/chats', token, { provider: 'openai', model: job.model })).json()) as { id: string };
      await wholeReply(
        await call(
          'POST',
          `/chats/${chat.id}/messages`,
          token,
          { content: 'hi', provider: 'openai', model: job.model },
          'text/event-stream',
        ),
      );
      await (await call('DELETE', `/chats/${chat.id}`, token)).arrayBuffer();
    },
    // Leave after two deltas, then resume from the last event id: nothing lost, nothing twice.
    resume: async () => {
      const token = pick().accessToken;
      let streamId = '';
      let lastId = '';
      let tokens = 0;
      let deltas = 0;
      await readSse(await call('POST', '/chat/stream', token, message, 'text/event-stream'), (event) => {
        if (event.event === 'start') streamId = (JSON.parse(event.data) as { streamId: string }).streamId;
        if (event.event === 'delta') tokens += tokensOf(event.data);
        lastId = event.id;
        return event.event === 'delta' && ++deltas === 2;
      });
      const response = await fetch(`${job.url}/api/v1/streams/${streamId}`, {
        headers: { authorization: `Bearer ${token}`, 'last-event-id': lastId, accept: 'text/event-stream' },
      });
      let done = false;
      await readSse(response, (event) => {
        if (event.event === 'delta') tokens += tokensOf(event.data);
        done ||= event.event === 'done';
      });
      if (!done || tokens !== job.tokens) throw new Error(`resumed reply ended after ${tokens}/${job.tokens} tokens`);
    },
    wsReplies: async () => {
      const socket = idleSocket();
      if (!socket) throw new Error('no idle websocket');
      await socket.reply();
    },
  };

  // Websockets: each on a user (a few tabs per user, so user events fan out a little), each
  // with one chat, reconnecting after every 5 replies so sockets come and go too.
  type Tab = { busy: boolean; reply(): Promise<void> };
  const tabs: Tab[] = [];
  const idleSocket = () => {
    const tab = tabs.find((t) => !t.busy);
    if (tab) tab.busy = true;
    return tab;
  };
  let requestSeq = 0;
  const openTab = async (index: number): Promise<Tab> => {
    const user = job.users[index % job.users.length]!;
    const chat = (await (await call('POST', '/chats', user.accessToken, { provider: 'openai', model: job.model })).json()) as {
      id: string;
    };
    let ws: WebSocket | undefined;
    let replies = 0;
    let pending: { id: number; tokens: number; resolve: () => void; reject: (e: Error) => void } | undefined;
    const connect = () =>
      timedValue(
        'ws connect',
        () =>
          new Promise<WebSocket>((resolve, reject) => {
            const socket = new WebSocket(`${job.url.replace(/^http/, 'ws')}/api/v1/ws?token=${encodeURIComponent(user.accessToken)}`);
            socket.onmessage = (event) => {
              const frame = JSON.parse(String(event.data)) as { type: string; requestId?: number; text?: string; message?: string };
              if (frame.type === 'ready') return resolve(socket);
              if (socket !== ws || !pending || frame.requestId !== pending.id) return;
              if (frame.type === 'delta') pending.tokens += (frame.text ?? '').length / TOKEN_TEXT.length;
              else if (frame.type === 'error') pending.reject(new Error(`error frame ${frame.message}`));
              else if (frame.type === 'done') {
                if (pending.tokens === job.tokens) pending.resolve();
                else pending.reject(new Error(`ws reply ended after ${pending.tokens}/${job.tokens} tokens`));
              }
            };
            socket.onclose = (event) => {
              reject(new Error(`closed ${event.code}`));
              // An old socket closing after its replacement opened is no failure of the reply.
              if (socket === ws) pending?.reject(new Error(`socket closed ${event.code} mid-reply`));
            };
          }),
      );
    const tab: Tab = {
      busy: true,
      async reply() {
        try {
          if (!ws || ws.readyState !== WebSocket.OPEN || replies++ % 5 === 0) {
            ws?.close();
            ws = await connect();
          }
          const id = ++requestSeq;
          const done = new Promise<void>((resolve, reject) => {
            pending = { id, tokens: 0, resolve, reject };
            setTimeout(() => reject(new Error('ws reply timed out after 60 s')), 60_000);
          });
          ws.send(
            JSON.stringify({ type: 'chat.send', chatId: chat.id, content: 'hi', provider: 'openai', model: job.model, requestId: id }),
          );
          await done;
        } finally {
          pending = undefined;
          tab.busy = false;
        }
      },
    };
    tabs.push(tab);
    closers.push(() => ws?.close());
    tab.busy = false;
    return tab;
  };
  const closers: (() => void)[] = [];
  async function timedValue<T>(name: string, work: () => Promise<T>): Promise<T> {
    let value!: T;
    await timed(name, async () => void (value = await work()));
    if (value === undefined) throw new Error(`${name} failed`);
    return value;
  }
  await Promise.all(Array.from({ length: job.sockets }, (_, i) => openTab(i)));

  console.log(JSON.stringify({ phase: 'go' }));
  const deadline = performance.now() + job.seconds * 1000;
  const cap = 200;
  const timers = Object.entries(job.rates).map(([name, perSecond]) =>
    perSecond > 0
      ? setInterval(() => {
          if (performance.now() >= deadline) return;
          if (kind(name).inFlight >= cap) return void kind(name).skipped++;
          void timed(name, work[name as keyof SoakJob['rates']]);
        }, 1000 / perSecond)
      : undefined,
  );
  await Bun.sleep(job.seconds * 1000);
  for (const timer of timers) clearInterval(timer);
  console.log(JSON.stringify({ phase: 'stop' }));
  // Let what is running finish, then close the sockets.
  for (let waited = 0; waited < 60_000 && [...kinds.values()].some((k) => k.inFlight > 0); waited += 100) await Bun.sleep(100);
  for (const close of closers) close();

  const result: SoakResult = { kinds: {}, errorSamples };
  for (const [name, entry] of kinds) {
    const sorted = entry.latencies.sort((a, b) => a - b);
    result.kinds[name] = {
      count: sorted.length + entry.errors,
      errors: entry.errors,
      skipped: entry.skipped,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
    };
  }
  return result;
}

if (import.meta.main) {
  const result = await run(JSON.parse(process.argv[2]!) as SoakJob);
  console.log(JSON.stringify({ result }));
  process.exit(0);
}
