// Per-request facts that several plugins share (id, start, caller), kept beside the Request so
// they exist even for requests that never reach a route (404s, parse errors).

export type RequestInfo = {
  id: string;
  startedAt: number;
  userId?: string;
  /** The request carried a JSON body with more than whitespace (seen by the request guard as its bytes passed). */
  hasJsonBody?: boolean;
};

const infos = new WeakMap<Request, RequestInfo>();

const acceptableId = /^[\w.:-]{1,128}$/;

export function startRequest(request: Request): RequestInfo {
  const given = request.headers.get('x-request-id');
  const info: RequestInfo = {
    id: given && acceptableId.test(given) ? given : crypto.randomUUID(),
    startedAt: performance.now(),
  };
  infos.set(request, info);
  return info;
}

export function requestInfo(request: Request): RequestInfo | undefined {
  return infos.get(request);
}
