import { afterEach, describe, expect, test } from 'bun:test';
import { createServer, type Socket } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { createLogger, type Logger } from '../../src/infra/log/index.ts';
import { type Mailer, openMailer } from '../../src/infra/mail/index.ts';
import { createLogMailer } from '../../src/infra/mail/log.ts';
import { createSmtpMailer, MailSendError } from '../../src/infra/mail/smtp.ts';

type Received = { mailFrom: string; rcptTo: string[]; raw: string };
type Auth = { username: string | undefined; password: string | null | undefined };

// Percent-encoded in the URL, decoded by nodemailer before AUTH: both forms must stay out of errors and logs.
const password = { encoded: 'pa%24%24word-7f3k', decoded: 'pa$$word-7f3k' };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  // Transports first: a pooled connection left open would keep the server's close waiting.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function capturingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger('debug', (line) => lines.push(line)), lines };
}

function track(mailer: Mailer): Mailer {
  cleanups.push(() => mailer.close());
  return mailer;
}

/** A real SMTP server on a free port that keeps what it receives. */
async function startSmtpServer(options: Partial<SMTPServerOptions> = {}) {
  const received: Received[] = [];
  const auths: Auth[] = [];
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true, // no TLS in the test, yet AUTH must still be offered
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, callback) {
      auths.push({ username: auth.username, password: auth.password });
      callback(null, { user: auth.username });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        received.push({
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((to) => to.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.server.address();
  if (!address || typeof address === 'string') throw new Error('smtp server has no port');
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: address.port, received, auths };
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function decodeQuotedPrintable(text: string): string {
  return text.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

const resetMail = {
  to: 'ann@example.com',
  subject: 'Reset your password',
  text: 'Follow http://localhost:3000/reset?token=tok-abc123 to choose a new password.',
};

describe('smtp mailer', () => {
  test('happy: delivers recipient, subject, body and From as the server receives them', async () => {
    const smtp = await startSmtpServer();
    const { log } = capturingLogger();
    const mailer = track(createSmtpMailer(`smtp://127.0.0.1:${smtp.port}`, 'Parley <no-reply@parley.test>', log));
    expect(mailer.kind).toBe('smtp');

    await mailer.send({ ...resetMail, html: '<p>Reset</p>' });

    expect(smtp.received).toHaveLength(1);
    const [mail] = smtp.received;
    expect(mail?.rcptTo).toEqual(['ann@example.com']);
    expect(mail?.mailFrom).toBe('no-reply@parley.test');
    expect(mail?.raw).toContain('From: Parley <no-reply@parley.test>');
    expect(mail?.raw).toContain('To: ann@example.com');
    expect(mail?.raw).toContain('Subject: Reset your password');
    // The long body line arrives quoted-printable (soft breaks, `=3D`): decode before comparing.
    expect(decodeQuotedPrintable(mail?.raw ?? '')).toContain(resetMail.text);
    expect(mail?.raw).toContain('<p>Reset</p>');
    expect(smtp.auths).toEqual([]);
  });

  test('security: credentials in the URL reach the server and never the logs', async () => {
    const smtp = await startSmtpServer();
    const { log, lines } = capturingLogger();
    const url = `smtp://mailuser:${password.encoded}@127.0.0.1:${smtp.port}`;
    const mailer = track(createSmtpMailer(url, 'Parley <no-reply@parley.test>', log));

    await mailer.send(resetMail);

    expect(smtp.auths).toEqual([{ username: 'mailuser', password: password.decoded }]);
    expect(smtp.received).toHaveLength(1);
    for (const line of lines) expect(line).not.toContain('7f3k');
  });

  test('security: a rejection that echoes the password is scrubbed from the error and the log line', async () => {
    const smtp = await startSmtpServer({
      // A careless server that repeats the credential back in its 535 reply.
      onAuth(auth, _session, callback) {
        callback(new Error(`bad credentials ${auth.username}:${auth.password}`));
      },
    });
    const { log, lines } = capturingLogger();
    const url = `smtp://mailuser:${password.encoded}@127.0.0.1:${smtp.port}`;
    const mailer = track(createSmtpMailer(url, 'Parley <no-reply@parley.test>', log));

    const error = await mailer.send(resetMail).then(
      () => undefined,
      (caught: unknown) => caught,
    );

    expect(error).toBeInstanceOf(MailSendError);
    const sendError = error as MailSendError;
    expect(sendError.message).toContain('bad credentials mailuser:***'); // the reply did carry it
    expect(sendError.message).not.toContain(password.decoded);
    expect(sendError.code).toBe('EAUTH');
    expect(sendError.permanent).toBe(true);
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'warn', msg: 'mail send failed', recipientDomain: 'example.com', code: 'EAUTH' });
    expect(line.smtp).toBe(`smtp://***:***@127.0.0.1:${smtp.port}`);
    expect(lines[0]).not.toContain('7f3k');
    expect(lines[0]).not.toContain('ann@');
  });

  test('error: a closed port rejects without the password', async () => {
    const port = await closedPort();
    const { log, lines } = capturingLogger();
    const mailer = track(createSmtpMailer(`smtp://mailuser:${password.encoded}@127.0.0.1:${port}`, 'a@b.test', log, { timeoutMs: 2000 }));

    const error = await mailer.send(resetMail).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(MailSendError);
    expect((error as Error).message).not.toContain('7f3k');
    expect(lines.join('\n')).not.toContain('7f3k');
  });

  test('error: a server that accepts but never greets is given up on within the timeout', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket)); // takes the connection, says nothing
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const { port } = silent.address() as { port: number };
    const { log } = capturingLogger();
    const timeoutMs = 200;
    const mailer = track(createSmtpMailer(`smtp://mailuser:${password.encoded}@127.0.0.1:${port}`, 'a@b.test', log, { timeoutMs }));

    const started = performance.now();
    const error = await mailer.send(resetMail).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(MailSendError);
    expect((error as MailSendError).code).toBe('ETIMEDOUT');
    expect((error as Error).message).not.toContain('7f3k');
    expect(performance.now() - started).toBeLessThan(5 * timeoutMs);
  });
});

describe('log mailer', () => {
  test('happy: development writes one line with the body, so the reset link can be followed', async () => {
    const { log, lines } = capturingLogger();
    const mailer = createLogMailer(log, { includeBody: true });
    await mailer.send(resetMail);
    expect(mailer.kind).toBe('log');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      msg: 'mail (not sent: SMTP_URL unset)',
      to: resetMail.to,
      subject: resetMail.subject,
      text: resetMail.text,
    });
  });

  test('security: production withholds the body and its token', async () => {
    const { log, lines } = capturingLogger();
    await createLogMailer(log, { includeBody: false }).send(resetMail);
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('tok-abc123');
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ msg: 'mail (not sent: SMTP_URL unset)', to: resetMail.to, subject: resetMail.subject });
    expect(String(line.text)).toContain('withheld');
  });
});

describe('openMailer', () => {
  const from = 'Parley <no-reply@localhost>';

  test('happy: SMTP_URL set → smtp, sending with MAIL_FROM', async () => {
    const smtp = await startSmtpServer();
    const { log } = capturingLogger();
    const mailer = track(openMailer({ smtpUrl: `smtp://127.0.0.1:${smtp.port}`, mailFrom: from, nodeEnv: 'production' }, log));
    expect(mailer.kind).toBe('smtp');
    await mailer.send(resetMail);
    expect(smtp.received[0]?.raw).toContain(`From: ${from}`);
  });

  test('happy: SMTP_URL unset in development → log mailer with the body', async () => {
    const { log, lines } = capturingLogger();
    const mailer = openMailer({ smtpUrl: undefined, mailFrom: from, nodeEnv: 'development' }, log);
    expect(mailer.kind).toBe('log');
    await mailer.send(resetMail);
    expect(lines.join('\n')).toContain('tok-abc123');
  });

  test('security: SMTP_URL unset in production → log mailer without the body, and a warning at open', async () => {
    const { log, lines } = capturingLogger();
    const mailer = openMailer({ smtpUrl: undefined, mailFrom: from, nodeEnv: 'production' }, log);
    expect(mailer.kind).toBe('log');
    expect(lines.map((line) => (JSON.parse(line) as { level: string }).level)).toEqual(['warn']);
    await mailer.send(resetMail);
    expect(lines.join('\n')).not.toContain('tok-abc123');
  });
});
