// A websocket client for the realtime suites: records every frame (parsed JSON) and how the socket closed.
import type { Json } from './client.ts';

/** A websocket client that records every frame (parsed JSON) and how it closed. */
export class WsClient {
  readonly frames: Json[] = [];
  readonly raw: string[] = [];
  closeEvent: { code: number; reason: string } | undefined;
  private waiters = new Set<() => void>();
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    this.opened = new Promise((resolve, reject) => {
      ws.addEventListener('open', () => resolve(), { once: true });
      ws.addEventListener('error', () => reject(new Error('websocket error before open')), { once: true });
    });
    this.opened.catch(() => undefined);
    this.closed = new Promise((resolve) => {
      ws.addEventListener('close', (event) => {
        this.closeEvent = { code: event.code, reason: event.reason };
        resolve(this.closeEvent);
        this.wake();
      });
    });
    ws.addEventListener('message', (event) => {
      const text = typeof event.data === 'string' ? event.data : new TextDecoder().decode(event.data as ArrayBuffer);
      this.raw.push(text);
      try {
        this.frames.push(JSON.parse(text));
      } catch {
        this.frames.push({ unparsable: text });
      }
      this.wake();
    });
  }

  static async connect(url: string): Promise<WsClient> {
    const client = new WsClient(new WebSocket(url));
    await client.opened;
    return client;
  }

  /** Connects with `?token=` and waits for the `ready` frame. */
  static async ready(base: string, token: string): Promise<WsClient> {
    const client = await WsClient.connect(`${base}?token=${encodeURIComponent(token)}`);
    await client.waitFor((f) => f.type === 'ready', 'ready');
    return client;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first frame (at index >= from) matching, waiting for it if needed. */
  async waitFor(match: (frame: Json) => boolean, what: string, timeoutMs = 10_000, from = 0): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const found = this.frames.slice(from).find(match);
      if (found) return found;
      if (this.closeEvent)
        throw new Error(`socket closed (${this.closeEvent.code}) while waiting for ${what}; frames: ${JSON.stringify(this.frames)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame for ${what} within ${timeoutMs} ms; frames: ${JSON.stringify(this.frames).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        const waiters = this.waiters;
        function done() {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
  }

  /** Frames of one reply (by requestId) until its done or error frame. */
  async reply(requestId: string, timeoutMs = 20_000): Promise<{ frames: Json[]; start: Json; end: Json; text: string }> {
    const end = await this.waitFor(
      (f) => f.requestId === requestId && (f.type === 'done' || f.type === 'error'),
      `done of ${requestId}`,
      timeoutMs,
    );
    const frames = this.frames.filter((f) => f.requestId === requestId);
    const start = frames.find((f) => f.type === 'start');
    const text = frames
      .filter((f) => f.type === 'delta')
      .map((f) => String(f.text))
      .join('');
    return { frames, start, end, text };
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000, 'bye');
    await Promise.race([this.closed, Bun.sleep(3000)]);
  }

  private wake() {
    for (const wake of [...this.waiters]) wake();
  }
}
