import { jwt } from '@elysiajs/jwt';
import type { Role } from '../users/model.ts';

export type AccessClaims = { sub: string; sid: string; jti: string; role: Role; exp: number; iat?: number };

export type AccessTokenCodec = {
  sign(claims: Omit<AccessClaims, 'exp' | 'iat' | 'jti'>): Promise<{ token: string; jti: string; expiresAt: number }>;
  /** The claims of a well-formed, correctly signed, unexpired HS256 token of ours; null otherwise. */
  verify(token: string): Promise<AccessClaims | null>;
};

const issuer = 'parley';

type JwtDecorator = {
  sign(payload: Record<string, unknown>): Promise<string>;
  verify(token: string, options: { algorithms: string[]; issuer: string }): Promise<Record<string, unknown> | false>;
};

/**
 * Access tokens are short-lived HS256 JWTs made by @elysiajs/jwt. Verification pins the
 * algorithm (so `alg: none` and algorithm swaps fail) and the issuer.
 */
export function createAccessTokenCodec(secret: string, ttlSeconds: number): AccessTokenCodec {
  const plugin = jwt({ name: 'accessToken', secret, alg: 'HS256', iss: issuer });
  const codec = (plugin.decorator as unknown as { accessToken: JwtDecorator }).accessToken;
  return {
    async sign(claims) {
      const jti = crypto.randomUUID();
      const expiresAt = Math.floor(Date.now() / 1000) + ttlSeconds;
      const token = await codec.sign({ ...claims, jti, exp: expiresAt });
      return { token, jti, expiresAt };
    },
    async verify(token) {
      const payload = await codec.verify(token, { algorithms: ['HS256'], issuer });
      if (!payload) return null;
      const { sub, sid, jti, role, exp, iat } = payload;
      if (typeof sub !== 'string' || typeof sid !== 'string' || typeof jti !== 'string' || typeof exp !== 'number') return null;
      if (role !== 'guest' && role !== 'user' && role !== 'admin') return null;
      return { sub, sid, jti, role, exp, iat: typeof iat === 'number' ? iat : undefined };
    },
  };
}
