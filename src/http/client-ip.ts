// Who is calling, by address: the socket peer, or — only behind a proxy we were told to trust
// (TRUST_PROXY) — what the proxy says. Headers from anyone else are the client's own words and
// would let it pick its own rate-limit budget, so they are ignored.
import { isIPv4, isIPv6 } from 'node:net';

/** The part of Bun's Server (and Elysia's `server` in context) that knows the socket peer. */
export type SocketPeer = { requestIP(request: Request): { address: string } | null };

/**
 * The caller's IP address. With `trustProxy`: `Fly-Client-IP`, else the first (client-most)
 * address of `X-Forwarded-For`, else the socket; without it only the socket. Header values that
 * are not an IPv4 or IPv6 address are ignored. `unknown` when there is no socket (in-process
 * `app.handle`).
 */
export function clientIp(request: Request, server: SocketPeer | null | undefined, trustProxy: boolean): string {
  if (trustProxy) {
    const fly = normalizeIp(request.headers.get('fly-client-ip'));
    if (fly) return fly;
    const forwarded = request.headers.get('x-forwarded-for');
    if (forwarded) {
      const first = normalizeIp(forwarded.split(',')[0]);
      if (first) return first;
    }
  }
  let socket: string | undefined;
  try {
    socket = server?.requestIP(request)?.address;
  } catch {
    // A request that did not come through this server's socket (e.g. built in process).
    socket = undefined;
  }
  return normalizeIp(socket) ?? 'unknown';
}

/**
 * A canonical form of an IP address, or null when the value is not one. Accepts what proxies
 * write: surrounding spaces, `[v6]` and `[v6]:port`, `v4:port`. IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`) becomes plain IPv4 so one client has one key whichever way it arrived.
 */
export function normalizeIp(value: string | null | undefined): string | null {
  if (!value) return null;
  let candidate = value.trim();
  if (candidate.length === 0 || candidate.length > 64) return null;
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(candidate);
  if (bracketed) candidate = bracketed[1]!;
  else {
    const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(candidate);
    if (v4WithPort) candidate = v4WithPort[1]!;
  }
  if (isIPv4(candidate)) return candidate;
  if (isIPv6(candidate)) {
    const lower = candidate.toLowerCase();
    const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
    if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
    return lower;
  }
  return null;
}

/**
 * Whose per-IP budget an address spends: an IPv4 address its own, an IPv6 address that of its
 * /64 (one customer's network is usually a whole /64, so its hosts could otherwise each take a
 * fresh budget). Anything else (`unknown`) is used as it is.
 */
export function ipBudgetKey(ip: string): string {
  if (!isIPv6(ip)) return ip;
  const [head = '', tail] = ip.toLowerCase().split('::') as [string, string | undefined];
  const groups = (part: string) => (part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const full = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${full
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
