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

/** argon2id's cost: memory in KiB and passes (PASSWORD_HASH_MEMORY_KIB / PASSWORD_HASH_TIME_COST). */
export type PasswordHashCost = { memoryKib: number; timeCost: number };

/**
 * Password hashing with argon2id through Bun.password, async only (the sync variants would block
 * every other request). New hashes use `cost`; a stored hash carries its own parameters, so
 * hashes made with another cost still verify.
 */
export function passwordHasher(cost: PasswordHashCost) {
  const hash = (password: string): Promise<string> =>
    Bun.password.hash(password, { algorithm: 'argon2id', memoryCost: cost.memoryKib, timeCost: cost.timeCost });
  const verify = (password: string, stored: string): Promise<boolean> => Bun.password.verify(password, stored);
  let decoyHash: Promise<string> | undefined;
  return {
    hash,
    verify,
    /** Burns the same time as a real verification, so an unknown email answers like a wrong password. */
    async verifyDecoy(password: string): Promise<false> {
      decoyHash ??= hash(randomSecret());
      await verify(password, await decoyHash);
      return false;
    },
  };
}
