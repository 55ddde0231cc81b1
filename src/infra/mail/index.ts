import type { Config } from '../../config/index.ts';
import type { Logger } from '../log/index.ts';
import { createLogMailer } from './log.ts';
import { createSmtpMailer } from './smtp.ts';
import type { Mailer } from './types.ts';

export { MailSendError } from './smtp.ts';
export type { Mailer, MailMessage } from './types.ts';

/** SMTP when SMTP_URL is set, otherwise mails become log lines (with their body outside production). */
export function openMailer(config: Pick<Config, 'smtpUrl' | 'mailFrom' | 'nodeEnv'>, log: Logger): Mailer {
  if (config.smtpUrl) return createSmtpMailer(config.smtpUrl, config.mailFrom, log);
  // Said once at boot, since in production this means reset and verification mails never arrive.
  if (config.nodeEnv === 'production') log.warn('SMTP_URL unset: mails are logged without their body, not sent');
  return createLogMailer(log, { includeBody: config.nodeEnv !== 'production' });
}
