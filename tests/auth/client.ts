// Small client helpers for the auth, users and admin suites: make accounts, sign in, read mailed
// tokens from the log mailer, and check the contract's error shape. Everything goes through HTTP.
import { expect } from 'bun:test';
import type { Env } from '../../src/config/index.ts';
import type { TestApp } from '../helpers/app.ts';

// biome-ignore lint: response bodies are inspected field by field
export const readJson = (response: Response): Promise<any> => response.json();

export const adminKey = 'admin-key-for-tests-0123456789';

/** The env most suites want: rate limits off (in-process requests share one IP) and an admin key. */
export const testEnv: Env = { RATE_LIMIT_ENABLED: 'false', ADMIN_API_KEY: adminKey };

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const asAdmin = { 'x-admin-key': adminKey };

let counter = 0;
export function uniqueEmail(label = 'user'): string {
  counter += 1;
  return `${label}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}@example.com`;
}

export type Tokens = { userId: string; accessToken: string; refreshToken: string; user: Record<string, unknown> };
export type Account = Tokens & { email: string; password: string };

function toTokens(body: { user: { id: string }; accessToken: string; refreshToken: string }): Tokens {
  return { userId: body.user.id, accessToken: body.accessToken, refreshToken: body.refreshToken, user: body.user };
}

export async function register(
  app: TestApp,
  options: { email?: string; password?: string; name?: string; headers?: Record<string, string> } = {},
): Promise<Account> {
  const email = options.email ?? uniqueEmail();
  const password = options.password ?? `pw-${Math.random().toString(36).slice(2)}-long`;
  const response = await app.request('/api/v1/auth/register', {
    method: 'POST',
    headers: options.headers,
    json: { email, password, ...(options.name ? { name: options.name } : {}) },
  });
  if (response.status !== 201) throw new Error(`register failed: ${response.status} ${await response.text()}`);
  return { ...toTokens(await readJson(response)), email, password };
}

export async function login(app: TestApp, email: string, password: string, headers?: Record<string, string>): Promise<Tokens> {
  const response = await app.request('/api/v1/auth/login', { method: 'POST', headers, json: { email, password } });
  if (response.status !== 200) throw new Error(`login failed: ${response.status} ${await response.text()}`);
  return toTokens(await readJson(response));
}

export async function guest(app: TestApp): Promise<Tokens> {
  const response = await app.request('/api/v1/auth/guest', { method: 'POST' });
  if (response.status !== 201) throw new Error(`guest failed: ${response.status} ${await response.text()}`);
  return toTokens(await readJson(response));
}

export async function createApiKey(app: TestApp, accessToken: string, body: { name: string; expiresAt?: string } = { name: 'test key' }) {
  const response = await app.request('/api/v1/auth/api-keys', { method: 'POST', headers: bearer(accessToken), json: body });
  if (response.status !== 201) throw new Error(`api key failed: ${response.status} ${await response.text()}`);
  return (await readJson(response)) as { id: string; key: string; prefix: string; name: string; expiresAt: string | null };
}

/** GET /auth/me with a credential: the status, for "is this token still accepted?" checks. */
export async function meStatus(app: TestApp, credential: string): Promise<number> {
  const response = await app.request('/api/v1/auth/me', { headers: bearer(credential) });
  await response.arrayBuffer();
  return response.status;
}

export async function adminPatchUser(app: TestApp, userId: string, body: Record<string, unknown>) {
  const response = await app.request(`/api/v1/admin/users/${userId}`, { method: 'PATCH', headers: asAdmin, json: body });
  if (response.status !== 200) throw new Error(`admin patch failed: ${response.status} ${await response.text()}`);
  return readJson(response);
}

export type MailKind = 'reset' | 'verify';
export const mailLogMessage = 'mail (not sent: SMTP_URL unset)';

/** Tokens mailed to an address so far, oldest first (the log mailer writes them on their own line). */
export function mailedTokens(app: TestApp, email: string, kind: MailKind): string[] {
  const subject = kind === 'reset' ? /reset/i : /confirm/i;
  return app.logs
    .filter((line) => line.msg === mailLogMessage && line.to === email && subject.test(String(line.subject)))
    .map((line) => {
      const token = String(line.text)
        .split('\n')
        .map((part) => part.trim())
        .find((part) => /^[A-Za-z0-9_-]{32,}$/.test(part));
      if (!token) throw new Error(`no token in mail: ${String(line.text)}`);
      return token;
    });
}

/** Mail is sent after the response: waits for the `count`-th token to that address and returns it. */
export async function waitForMailedToken(app: TestApp, email: string, kind: MailKind, count = 1): Promise<string> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const tokens = mailedTokens(app, email, kind);
    if (tokens.length >= count) return tokens[count - 1]!;
    await Bun.sleep(10);
  }
  throw new Error(`no ${kind} mail #${count} to ${email}`);
}

/** Asserts the contract's error body `{error: {code, message}}` with the given status and code. */
export async function expectError(response: Response, status: number, code: string) {
  const text = await response.text();
  expect(`${response.status} ${text}`).toStartWith(`${status} `);
  const body = JSON.parse(text);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  return body;
}
