// Tokens mailed by the log mailer (SMTP_URL unset), read back from the app's log lines.
import type { TestApp } from './app.ts';

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
