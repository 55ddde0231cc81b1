// A TCP proxy a test can cut and restore, to put an outage between the app and Redis or Postgres
// without touching the shared servers: `cut()` stops listening and drops every connection (new
// ones are refused, as from a server that is down), `restore()` listens again on the same port.
import type { Socket, TCPSocketListener } from 'bun';

type End = { peer: Socket<End> | undefined; early: Uint8Array[]; out: Uint8Array[] };

/** Writes a chunk, keeping what the socket could not take for `drain`. */
function send(socket: Socket<End>, chunk: Uint8Array) {
  if (socket.data.out.length > 0) return void socket.data.out.push(chunk);
  const written = socket.write(chunk);
  if (written >= 0 && written < chunk.length) socket.data.out.push(chunk.subarray(written));
}
function drain(socket: Socket<End>) {
  while (socket.data.out.length > 0) {
    const chunk = socket.data.out[0]!;
    const written = socket.write(chunk);
    if (written < 0) return void (socket.data.out = []);
    if (written < chunk.length) return void (socket.data.out[0] = chunk.subarray(written));
    socket.data.out.shift();
  }
}

export type TcpProxy = {
  /** The port it listens on, the same after a restore. */
  readonly port: number;
  /** Client connections accepted so far, over every restore. */
  readonly stats: { accepted: number };
  /** Connections open now (both sides). */
  openSockets(): number;
  readonly isCut: boolean;
  /** Stops listening and cuts every connection at once. */
  cut(): void;
  /** Listens again on the same port (after a cut). */
  restore(): Promise<void>;
  /** For good: a cut that is not restored. */
  close(): void;
};

/** A proxy on 127.0.0.1 (`port`, else a free one) to `target`. */
export function startTcpProxy(target: { hostname: string; port: number }, options: { port?: number } = {}): TcpProxy {
  const sockets = new Set<Socket<End>>();
  const stats = { accepted: 0 };
  const forget = (socket: Socket<End>) => {
    sockets.delete(socket);
    socket.data.peer?.end();
  };
  const listen = (port: number): TCPSocketListener<End> =>
    Bun.listen<End>({
      hostname: '127.0.0.1',
      port,
      socket: {
        open(client) {
          client.data = { peer: undefined, early: [], out: [] };
          sockets.add(client);
          stats.accepted++;
          Bun.connect<End>({
            hostname: target.hostname,
            port: target.port,
            data: { peer: client, early: [], out: [] },
            socket: {
              open(server) {
                sockets.add(server);
                client.data.peer = server;
                for (const chunk of client.data.early) send(server, chunk);
                client.data.early = [];
              },
              data: (server, chunk) => server.data.peer && send(server.data.peer, new Uint8Array(chunk)),
              drain,
              close: forget,
              error: forget,
            },
          }).catch(() => client.end());
        },
        data(client, chunk) {
          const copy = new Uint8Array(chunk);
          if (client.data.peer) send(client.data.peer, copy);
          else client.data.early.push(copy);
        },
        drain,
        close: forget,
        error: forget,
      },
    });

  let listener: TCPSocketListener<End> | undefined = listen(options.port ?? 0);
  const port = listener.port;
  const cut = () => {
    listener?.stop(true);
    listener = undefined;
    for (const socket of sockets) socket.terminate();
    sockets.clear();
  };
  return {
    port,
    stats,
    openSockets: () => sockets.size,
    get isCut() {
      return listener === undefined;
    },
    cut,
    async restore() {
      if (listener) return;
      // Listening again on the port just closed may race the kernel for a moment.
      for (let attempt = 0; ; attempt++) {
        try {
          listener = listen(port);
          return;
        } catch (error) {
          if (attempt >= 20) throw error;
          await Bun.sleep(50);
        }
      }
    },
    close: cut,
  };
}

/** A port nothing listens on right now. */
export function freePort(): number {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  const { port } = probe;
  probe.stop(true);
  return port;
}

/** `url` with its host and port replaced by the proxy's (user, password, database and query kept). */
export function throughProxy(url: string, proxy: Pick<TcpProxy, 'port'>): string {
  const rewritten = new URL(url);
  rewritten.hostname = '127.0.0.1';
  rewritten.port = String(proxy.port);
  return rewritten.toString();
}

/** The host and port `url` points at (`defaultPort` when it names none). */
export function targetOf(url: string, defaultPort: number): { hostname: string; port: number } {
  const parsed = new URL(url);
  return { hostname: parsed.hostname || '127.0.0.1', port: Number(parsed.port || defaultPort) };
}
