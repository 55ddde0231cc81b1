// A small client for the contract's SSE: `id:`, `event:`, one JSON `data:` line per event, and
// comment lines (`: ping`). It reads a Response body as it arrives, so a test can stop after a few
// events and cancel the reader, which is exactly what a client that leaves does. Shared by the
// chats, models and realtime suites.

// biome-ignore lint: event payloads are inspected field by field
export type SseData = any;
export type SseEvent = { id: string; event: string; data: SseData };
export type SseTranscript = {
  events: SseEvent[];
  comments: string[];
  /** The concatenated `delta` texts. */
  text: string;
  /** The body ended by itself (false when the reader stopped early). */
  ended: boolean;
};

type Block = { kind: 'event'; event: SseEvent } | { kind: 'comment'; text: string };

/** The concatenated `delta` texts of these events. */
export const deltaText = (events: SseEvent[]) =>
  events
    .filter((e) => e.event === 'delta')
    .map((e) => String(e.data.text))
    .join('');

/** One block (the lines between blank lines) as an event or comments; data is parsed as JSON. */
export function parseSseBlock(block: string): Block[] {
  const comments: Block[] = [];
  let id = '';
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === '') continue;
    if (line.startsWith(':')) {
      comments.push({ kind: 'comment', text: line.slice(1).trim() });
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return comments;
  const raw = data.join('\n');
  let parsed: SseData;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error(`SSE data is not one JSON value: ${raw}`);
  }
  return [...comments, { kind: 'event', event: { id, event, data: parsed } }];
}

export type SseReaderOptions = {
  /** Throw at once unless the response's content-type is text/event-stream (default true). */
  requireEventStream?: boolean;
};

/** Reads events one at a time; `cancel()` drops the connection like a client that leaves. */
export class SseReader {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  private readonly reader: {
    read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }>;
    cancel(): Promise<void>;
  };
  private readonly decoder = new TextDecoder();
  private buffer = '';
  private queued: SseEvent[] = [];
  private finished = false;
  private cancelled = false;

  constructor(
    readonly response: Response,
    options: SseReaderOptions = {},
  ) {
    if (!response.body) throw new Error(`no response body (status ${response.status})`);
    if ((options.requireEventStream ?? true) && !response.headers.get('content-type')?.startsWith('text/event-stream')) {
      throw new Error(`not an event stream: ${response.status} ${response.headers.get('content-type')}`);
    }
    this.reader = response.body.getReader();
  }

  /** The body ended by itself (not cancelled by us). */
  get ended(): boolean {
    return this.finished && !this.cancelled;
  }

  get text(): string {
    return deltaText(this.events);
  }

  get ids(): string[] {
    return this.events.map((e) => e.id);
  }

  /** The next event, or undefined once the body has ended. Throws when none comes in time. */
  async next(timeoutMs = 10_000): Promise<SseEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const queued = this.queued.shift();
      if (queued) return queued;
      if (this.finished) return undefined;
      let timer: Timer | undefined;
      const chunk = await Promise.race([
        this.reader.read(),
        new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), Math.max(deadline - Date.now(), 0));
        }),
      ]).finally(() => clearTimeout(timer));
      if (chunk === 'timeout') {
        await this.cancel();
        throw new Error(`no SSE event within ${timeoutMs} ms; so far: ${JSON.stringify(this.events.map((e) => e.event))}`);
      }
      if (chunk.done) {
        this.finished = true;
        this.take(`${this.buffer}${this.decoder.decode()}\n\n`);
        this.buffer = '';
      } else {
        this.buffer += this.decoder.decode(chunk.value, { stream: true });
        const cut = this.buffer.lastIndexOf('\n\n');
        if (cut !== -1) {
          this.take(this.buffer.slice(0, cut + 2));
          this.buffer = this.buffer.slice(cut + 2);
        }
      }
    }
  }

  /** Reads until an event matches `stop` (returned) or the body ends (undefined). */
  async until(stop: (event: SseEvent) => boolean, timeoutMs = 10_000): Promise<SseEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (let event = await this.next(timeoutMs); event; event = await this.next(Math.max(deadline - Date.now(), 1))) {
      if (stop(event)) return event;
    }
    return undefined;
  }

  /** Reads `count` events (throws if the body ends first). */
  async read(count: number, timeoutMs = 10_000): Promise<SseEvent[]> {
    const out: SseEvent[] = [];
    for (let i = 0; i < count; i++) {
      const event = await this.next(timeoutMs);
      if (!event) throw new Error(`the stream ended after ${out.length} of ${count} events`);
      out.push(event);
    }
    return out;
  }

  /** Reads until `count` deltas have been read in all (throws if the body ends first). */
  async untilDeltas(count: number, timeoutMs = 10_000): Promise<void> {
    while (this.events.filter((e) => e.event === 'delta').length < count) {
      if (!(await this.next(timeoutMs))) throw new Error(`the stream ended before ${count} deltas`);
    }
  }

  /** Reads until the body ends; returns every event read by this reader. */
  async rest(timeoutMs = 20_000): Promise<SseEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (await this.next(Math.max(deadline - Date.now(), 1))) {
      // keep reading
    }
    return this.events;
  }

  async cancel(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.cancelled = true;
    await this.reader.cancel().catch(() => undefined);
  }

  private take(text: string) {
    for (const block of text.split(/\r?\n\r?\n/)) {
      for (const item of parseSseBlock(block)) {
        if (item.kind === 'comment') this.comments.push(item.text);
        else {
          this.events.push(item.event);
          this.queued.push(item.event);
        }
      }
    }
  }
}

/**
 * Reads a whole SSE response, or with `stopAfter` only that many events and then cancels the
 * reader (a disconnect). Throws when the stream goes quiet for `timeoutMs`.
 */
export async function readSse(response: Response, options: { stopAfter?: number; timeoutMs?: number } = {}): Promise<SseTranscript> {
  const reader = new SseReader(response);
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  while (options.stopAfter === undefined || reader.events.length < options.stopAfter) {
    if (!(await reader.next(Math.max(deadline - Date.now(), 1)))) break;
  }
  if (!reader.ended) await reader.cancel();
  return { events: reader.events, comments: reader.comments, text: reader.text, ended: reader.ended };
}

/** Stream entry ids are `<ms>-<seq>`: compares them numerically (negative when a < b). */
export function compareEventIds(a: string, b: string): number {
  const parse = (id: string) => {
    const match = /^(\d+)-(\d+)$/.exec(id);
    if (!match) throw new Error(`not a stream entry id: ${id}`);
    return [BigInt(match[1]!), BigInt(match[2]!)] as const;
  };
  const [x, y] = [parse(a), parse(b)];
  if (x[0] !== y[0]) return x[0] < y[0] ? -1 : 1;
  return x[1] === y[1] ? 0 : x[1] < y[1] ? -1 : 1;
}
