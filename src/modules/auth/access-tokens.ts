import { jwtVerify, SignJWT } from 'jose';
import type { Role } from '../users/model.ts';

export type AccessClaims = { sub: string; sid: string; jti: string; role: Role; exp: number; iat?: number };

export type AccessTokenCodec = {
  sign(claims: Omit<AccessClaims, 'exp' | 'iat' | 'jti'>): Promise<{ token: string; jti: string; expiresAt: number }>;
  /** The claims of a well-formed, correctly signed, unexpired HS256 token of ours; null otherwise. */
  verify(token: string): Promise<AccessClaims | null>;
};

const issuer = 'parley';
const algorithms = ['HS256'];

/**
 * Access tokens are short-lived HS256 JWTs (RFC 7519) made and checked by `jose`. Verification
 * pins the algorithm (so `alg: none` and algorithm swaps fail) and the issuer. The HMAC key is
 * imported once: handing jose the raw secret would import it again on every request.
 */
export function createAccessTokenCodec(secret: string, ttlSeconds: number): AccessTokenCodec {
  const key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
    'verify',
  ]);
  return {
    async sign(claims) {
      const jti = crypto.randomUUID();
      const expiresAt = Math.floor(Date.now() / 1000) + ttlSeconds;
      const token = await new SignJWT({ ...claims, jti })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(issuer)
        .setIssuedAt()
        .setExpirationTime(expiresAt)
        .sign(await key);
      return { token, jti, expiresAt };
    },
    async verify(token) {
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, await key, { algorithms, issuer }));
      } catch {
        // Malformed, forged, expired or someone else's: all the same to the caller.
        return null;
      }
      const { sub, sid, jti, role, exp, iat } = payload;
      if (typeof sub !== 'string' || typeof sid !== 'string' || typeof jti !== 'string' || typeof exp !== 'number') return null;
      if (role !== 'guest' && role !== 'user' && role !== 'admin') return null;
      return { sub, sid, jti, role, exp, iat: typeof iat === 'number' ? iat : undefined };
    },
  };
}
