// The audit trail of admin actions, as the HTTP layer sees them: who acted (the caller the admin
// guard settled), from where (client IP, user agent, request id) and through which route. A
// route names its action with the `audit` option (auth.ts) and may add what it alone knows (the
// target, the state before and after) through the `audit` handle its handler receives. The entry
// is written by a sink the app wires in (the admin module's audit log), once the handler has
// succeeded and before the response leaves: no route writes audit entries itself.
import type { CredentialKind } from '../config/vocabulary.ts';
import type { Caller } from './auth.ts';
import { clientIp, type SocketPeer } from './client-ip.ts';
import { requestInfo } from './request-context.ts';

/** What a handler tells the trail about its action: what it acted on and the change it made. */
export type AuditNote = {
  target?: { type: string; id: string } | null;
  /** The target's state before the action (only the fields the action could change). */
  before?: unknown;
  /** The same fields after it. */
  after?: unknown;
  /** Anything else worth keeping (a pattern, counts); never a secret. */
  details?: unknown;
};

/** Who acted: the admin's user (null for the admin key alone) and what made it an admin. */
export type AuditActor = { userId: string | null; email: string | null; credential: CredentialKind };

/** One admin action, handed to the sink. `path` is the route's template (`/api/v1/admin/users/:id`). */
export type AuditEvent = AuditNote & {
  action: string;
  actor: AuditActor;
  method: string;
  path: string;
  ip: string;
  userAgent: string | null;
  requestId: string | null;
};

/** Writes one entry. Should not throw for a failed write (the action is done): log it instead. */
export type AuditSink = (event: AuditEvent) => Promise<void>;

/** The `audit` a handler receives: `note` adds to what its entry will say (later notes win per field). */
export type AuditHandle = { note(note: AuditNote): void };

const maxUserAgentLength = 512;

/**
 * The actor of an admin call. A user whose role is admin acts by their own credential; anyone
 * else who got here did so by the admin key (alone, or beside a user's token: then both are named).
 */
export function auditActor(caller: Caller): AuditActor {
  const user = caller.user;
  const byRole = user?.role === 'admin' && caller.via !== 'adminKey';
  return { userId: user?.id ?? null, email: user?.email ?? null, credential: byRole ? caller.via : 'adminKey' };
}

/** The per-request notes and the one place entries are assembled, for the auth guard's `audit` option. */
export function createAuditTrail({ sink, trustProxy }: { sink: AuditSink; trustProxy: boolean }) {
  const notes = new WeakMap<Request, AuditNote>();
  return {
    handle(request: Request): AuditHandle {
      return { note: (note) => void notes.set(request, { ...notes.get(request), ...note }) };
    },
    /** Writes the entry of a call that succeeded; `caller` is null only if the route had no auth. */
    async record(input: {
      action: string;
      request: Request;
      caller: Caller | null;
      route: string;
      server: SocketPeer | null;
      status: unknown;
    }): Promise<void> {
      const { action, request, caller } = input;
      // A handler may answer an error status without throwing: then nothing was done.
      if (!caller || (typeof input.status === 'number' && input.status >= 400)) return;
      await sink({
        ...notes.get(request),
        action,
        actor: auditActor(caller),
        method: request.method,
        path: input.route,
        ip: clientIp(request, input.server, trustProxy),
        userAgent: request.headers.get('user-agent')?.slice(0, maxUserAgentLength) ?? null,
        requestId: requestInfo(request)?.id ?? null,
      });
    },
  };
}

export type AuditTrail = ReturnType<typeof createAuditTrail>;
