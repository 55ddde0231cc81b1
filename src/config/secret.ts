import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './parse.ts';

export const jwtSecretFileName = 'jwt-secret';

/**
 * Without JWT_SECRET, a secret is generated once and kept in DATA_DIR (mode 0600) so tokens
 * survive restarts. Several instances must share JWT_SECRET instead (they do not share a disk).
 */
export function loadOrCreateJwtSecret(dataDir: string): { secret: string; generated: true } {
  const path = join(dataDir, jwtSecretFileName);
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (existsSync(path)) {
      const secret = readFileSync(path, 'utf8').trim();
      if (secret.length >= 32) return { secret, generated: true };
    }
    const secret = randomBytes(48).toString('base64url');
    writeFileSync(path, `${secret}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    return { secret, generated: true };
  } catch (error) {
    throw new ConfigError('DATA_DIR', `cannot keep the generated JWT secret in ${dataDir} (${(error as Error).message})`);
  }
}
