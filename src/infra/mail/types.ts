export type MailMessage = { to: string; subject: string; text: string; html?: string };

/**
 * How the auth module sends password-reset and verification mails: over SMTP when SMTP_URL is
 * set, otherwise written to the log so a developer can still follow the link.
 */
export type Mailer = {
  readonly kind: 'smtp' | 'log';
  /** Resolves once the server accepted the message; rejects with an Error that holds no credentials. */
  send(message: MailMessage): Promise<void>;
  close(): Promise<void>;
};

/** The domain of an address (`Ann <ann@example.com>` → `example.com`): enough to trace a mail without logging who. */
export function recipientDomain(to: string): string {
  return /@([^\s@<>]+)>?\s*$/.exec(to)?.[1] ?? '[no domain]';
}
