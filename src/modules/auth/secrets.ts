// Opaque secrets (refresh tokens, API keys, mailed tokens) and password hashes. Opaque secrets
// are stored only as SHA-256 hashes: they are long and random, so a fast hash is enough and a
// lookup by hash stays one indexed query.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export function randomSecret(prefix = ''): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time comparison of two strings of any length (for X-Admin-Key). */
export function safeEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

// argon2id through Bun.password, async only: the sync variants would block every other request.
export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: 'argon2id' });
}

export function verifyPassword(password: string, hash: string): Promise<boolean> {
  return Bun.password.verify(password, hash);
}

let decoyHash: Promise<string> | undefined;

/** Burns the same time as a real verification, so an unknown email answers like a wrong password. */
export async function verifyDecoy(password: string): Promise<false> {
  decoyHash ??= hashPassword(randomSecret());
  await Bun.password.verify(password, await decoyHash);
  return false;
}
