import type { Logger } from '../log/index.ts';
import type { Mailer } from './types.ts';

/**
 * The fallback without SMTP_URL: the mail becomes a log line. In development and test the body is
 * written so a developer can follow a reset or verification link; in production it is withheld,
 * because that body carries a live token and logs are kept and shipped far more widely than mail.
 */
export function createLogMailer(log: Logger, options: { includeBody: boolean }): Mailer {
  return {
    kind: 'log',
    async send(message) {
      log.info('mail (not sent: SMTP_URL unset)', {
        to: message.to,
        subject: message.subject,
        text: options.includeBody ? message.text : '[body withheld in production: it may hold a token]',
      });
    },
    async close() {},
  };
}
