import { createTransport } from 'nodemailer';
import { type Logger, safeUrl } from '../log/index.ts';
import { type Mailer, recipientDomain } from './types.ts';

/** A failed delivery. Its message is built here, never copied whole from nodemailer, so it cannot carry SMTP_URL's password. */
export class MailSendError extends Error {
  override readonly name = 'MailSendError';
  constructor(
    message: string,
    /** nodemailer's code: ECONNECTION, ETIMEDOUT, EAUTH, EENVELOPE, EABORT, … */
    readonly code: string | undefined,
    /** True for a 5xx reply: sending the same mail again will not help. */
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

export type SmtpMailerOptions = {
  /** Bounds connecting, the greeting and each idle wait; the whole send gets three times this. Default 10 s. */
  timeoutMs?: number;
};

/**
 * Sends through the SMTP server of an smtp:// or smtps:// URL (credentials in the URL). Pooled,
 * so a burst of reset mails reuses connections; nodemailer's own defaults wait minutes on a dead
 * server, which would hold a password-reset request open, hence the short timeouts.
 */
export function createSmtpMailer(url: string, from: string, log: Logger, options: SmtpMailerOptions = {}): Mailer {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const secrets = secretsOf(url);
  const scrub = (text: string) => secrets.reduce((out, secret) => out.split(secret).join('***'), text);

  let transport: ReturnType<typeof createTransport>;
  try {
    transport = createTransport({
      url,
      pool: true,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    });
  } catch (error) {
    // nodemailer's URL errors carry the raw input (password included) in `input`: keep none of it.
    throw new MailSendError(`invalid SMTP URL ${safeUrl(url)}: ${scrub(messageOf(error))}`, 'ECONFIG', true);
  }

  return {
    kind: 'smtp',
    async send(message) {
      try {
        await transport.sendMail({
          from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          ...(message.html === undefined ? {} : { html: message.html }),
          // Socket timeouts miss a server that trickles its replies; this bounds the whole send.
          signal: AbortSignal.timeout(timeoutMs * 3),
        });
      } catch (error) {
        const fields = error as { code?: unknown; responseCode?: unknown };
        const code = typeof fields.code === 'string' ? fields.code : undefined;
        const permanent = typeof fields.responseCode === 'number' && fields.responseCode >= 500;
        const wrapped = new MailSendError(`mail to ${recipientDomain(message.to)} failed: ${scrub(messageOf(error))}`, code, permanent);
        log.warn('mail send failed', { smtp: safeUrl(url), recipientDomain: recipientDomain(message.to), error: wrapped.message, code });
        throw wrapped;
      }
    },
    async close() {
      transport.close();
    },
  };
}

/** Every form in which the URL's password could reappear in an error: as written, and percent-decoded. */
function secretsOf(url: string): string[] {
  let password = '';
  try {
    password = new URL(url).password;
  } catch {
    // Unparseable: the whole URL is the only thing we can be sure to hide.
  }
  const forms = [url, password];
  try {
    forms.push(decodeURIComponent(password));
  } catch {
    // A malformed escape: nodemailer cannot have decoded it either.
  }
  // Longest first, so the URL is replaced whole before its password is.
  return [...new Set(forms.filter((form) => form.length > 0))].sort((a, b) => b.length - a.length);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
