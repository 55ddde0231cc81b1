// How a request reached us (HTTPS or not) and what that implies: HSTS over HTTPS, a 308 to the
// https URL under FORCE_HTTPS, and the Content-Security-Policy of each kind of page. Parley never
// terminates TLS itself, so "over HTTPS" is what a proxy we were told to trust (TRUST_PROXY) says
// in X-Forwarded-Proto; from anyone else that header is the client's own word and is ignored.
import { Elysia } from 'elysia';

export const hsts = 'max-age=31536000; includeSubDomains';

/** The API answers JSON and events only: nothing in it may load, run or be framed. */
export const apiCsp = "default-src 'none'; frame-ancestors 'none'";

/**
 * The docs page (Swagger UI served from this server, see modules/docs): its own script and styles,
 * the inline style attributes the UI sets, its one inline bootstrap script by hash, the OpenAPI
 * document fetched from here, and the data: images its styles hold.
 */
export function docsCsp(inlineScriptHashes: readonly string[]): string {
  const scripts = ["'self'", ...inlineScriptHashes.map((hash) => `'${hash}'`)].join(' ');
  return [
    "default-src 'none'",
    `script-src ${scripts}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * `https` or `http`: with `trustProxy`, the first (client-most) value of X-Forwarded-Proto when it
 * is one of those; otherwise the scheme of the request URL (http: Parley serves no TLS).
 */
export function requestProtocol(request: Request, trustProxy: boolean): 'http' | 'https' {
  if (trustProxy) {
    const forwarded = request.headers.get('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
    if (forwarded === 'https' || forwarded === 'http') return forwarded;
  }
  return request.url.startsWith('https:') ? 'https' : 'http';
}

/** Platform probes call these over plain HTTP from inside; they are never redirected. */
const probePaths = new Set(['/health']);

export type TransportOptions = {
  trustProxy: boolean;
  forceHttps: boolean;
  /** The CSP of a path other than the API's strict one (the docs page), or undefined. */
  pageCsp?: (path: string) => string | undefined;
};

/**
 * Per request, before routing: plain HTTP under FORCE_HTTPS is answered 308 to the https URL
 * (same host without port, path and query; 308 keeps the method and body of a POST); HTTPS gets
 * HSTS; every response gets its CSP.
 */
export function transportPolicy({ trustProxy, forceHttps, pageCsp }: TransportOptions) {
  return new Elysia({ name: 'transport' }).onRequest(({ request, set }) => {
    const url = new URL(request.url);
    const protocol = requestProtocol(request, trustProxy);
    if (protocol === 'https') set.headers['strict-transport-security'] = hsts;
    set.headers['content-security-policy'] = pageCsp?.(url.pathname) ?? apiCsp;
    if (forceHttps && protocol === 'http' && !probePaths.has(url.pathname)) {
      return new Response(null, {
        status: 308,
        headers: { location: `https://${url.hostname}${url.pathname}${url.search}`, 'cache-control': 'no-store' },
      });
    }
  });
}
