import type { UserCaller } from '../../http/auth.ts';
import { AppError, conflict, forbidden, invalid, unauthorized } from '../../http/errors.ts';
import type { Infra } from '../../infra/index.ts';
import type { Mailer } from '../../infra/mail/index.ts';
import { normaliseEmail, type UsersService } from '../users/service.ts';
import type { AuthResponse } from './model.ts';
import type { AuthRepository, OneTimePurpose } from './repository.ts';
import { hashSecret, passwordHasher, randomSecret } from './secrets.ts';
import type { ClientMeta, SessionTokens } from './sessions.ts';

const resetTokenTtlMs = 60 * 60 * 1000;
const verifyTokenTtlMs = 24 * 60 * 60 * 1000;

const invalidToken = () => invalid('body.token', 'is invalid, used or expired');

/** Registration, sign-in, guests, passwords and email verification. */
export function createAccounts(infra: Infra, users: UsersService, repo: AuthRepository, sessions: SessionTokens, mailer: Mailer) {
  const { log } = infra;
  const passwords = passwordHasher(infra.config.passwordHash);

  /** Never throws: a mail that cannot be prepared or sent is logged, not fatal to the request. */
  const mailToken = async (userId: string, email: string, purpose: OneTimePurpose) => {
    const token = randomSecret();
    const ttl = purpose === 'reset_password' ? resetTokenTtlMs : verifyTokenTtlMs;
    try {
      await repo.insertOneTimeToken({ tokenHash: hashSecret(token), userId, purpose, email, expiresAt: new Date(Date.now() + ttl) });
    } catch (error) {
      log.error('could not store a mailed token', { purpose, error });
      return;
    }
    const message =
      purpose === 'reset_password'
        ? {
            subject: 'Reset your Parley password',
            text: `Someone asked to reset the password of this Parley account. If it was you, send this token with POST /api/v1/auth/reset-password within an hour:\n\n${token}\n\nIf it was not you, ignore this mail.`,
          }
        : {
            subject: 'Confirm your email for Parley',
            text: `Confirm this address by sending this token with POST /api/v1/auth/verify-email within 24 hours:\n\n${token}`,
          };
    try {
      await mailer.send({ to: email, ...message });
    } catch (error) {
      log.warn('mail not sent', { purpose, error: (error as Error).message });
    }
  };

  return {
    /** A new account, or a guest becoming one: same user id, so its chats stay. */
    async register(
      input: { email: string; password: string; name?: string },
      meta: ClientMeta,
      caller: UserCaller | null,
    ): Promise<AuthResponse> {
      const email = normaliseEmail(input.email);
      const passwordHash = await passwords.hash(input.password);
      if (await users.findByEmail(email)) throw conflict('An account with this email already exists');
      let user: Awaited<ReturnType<UsersService['insert']>> | undefined;
      try {
        if (caller?.user.role === 'guest') {
          // Conditional on still being a guest: two registrations racing on one guest token get one account.
          user = await users.upgradeGuest(caller.user.id, { email, passwordHash, name: input.name ?? null });
          if (!user) throw conflict('This guest has already registered');
          if (caller.sessionId) await sessions.revokeSession(caller.sessionId);
        } else {
          user = await users.insert({ id: Bun.randomUUIDv7(), email, passwordHash, name: input.name ?? null, role: 'user' });
        }
      } catch (error) {
        if (error instanceof AppError) throw error;
        // Two registrations racing for one email: the unique index decides.
        if (await users.findByEmail(email)) throw conflict('An account with this email already exists');
        throw error;
      }
      void mailToken(user.id, email, 'verify_email');
      return sessions.start(user, meta);
    },

    /** The same answer, in about the same time, for an unknown email and a wrong password. */
    async login(input: { email: string; password: string }, meta: ClientMeta): Promise<AuthResponse> {
      const user = await users.findByEmail(input.email);
      const valid = user?.passwordHash
        ? await passwords.verify(input.password, user.passwordHash)
        : await passwords.verifyDecoy(input.password);
      if (!user || !valid) throw unauthorized('Invalid email or password');
      if (user.disabled) throw forbidden('This account is disabled');
      return sessions.start(user, meta);
    },

    async guest(meta: ClientMeta): Promise<AuthResponse> {
      const user = await users.insert({ id: Bun.randomUUIDv7(), role: 'guest' });
      return sessions.start(user, meta);
    },

    /** Ends every other session; the one making the request stays signed in. */
    async changePassword(caller: UserCaller, currentPassword: string, newPassword: string): Promise<void> {
      const user = await users.findById(caller.user.id);
      if (!user?.passwordHash || !(await passwords.verify(currentPassword, user.passwordHash))) {
        throw unauthorized('Current password is wrong');
      }
      await users.update(user.id, { passwordHash: await passwords.hash(newPassword) });
      await sessions.revokeAllSessions(user.id, caller.sessionId ?? undefined);
    },

    /** Always accepted, whether or not the email is known; the work happens after the answer. */
    forgotPassword(emailInput: string): void {
      void (async () => {
        const user = await users.findByEmail(emailInput);
        if (!user?.email || !user.passwordHash || user.disabled) return;
        await mailToken(user.id, user.email, 'reset_password');
      })().catch((error) => log.error('forgot-password failed', { error }));
    },

    /** A mailed token sets a new password once, and ends every session of the account. */
    async resetPassword(token: string, newPassword: string): Promise<void> {
      const passwordHash = await passwords.hash(newPassword);
      const used = await repo.consumeOneTimeToken(hashSecret(token), 'reset_password');
      const user = used && (await users.findById(used.userId));
      if (!used || !user || user.email !== used.email) throw invalidToken();
      // Following the mailed link proves the address too.
      await users.update(user.id, { passwordHash, emailVerified: true });
      await sessions.revokeAllSessions(user.id);
    },

    async verifyEmail(token: string) {
      const used = await repo.consumeOneTimeToken(hashSecret(token), 'verify_email');
      const user = used && (await users.findById(used.userId));
      // A token proves the address it was mailed to, not whatever the account holds now.
      if (!used || !user || user.email !== used.email) throw invalidToken();
      return (await users.update(user.id, { emailVerified: true }))!;
    },

    async resendVerification(caller: UserCaller): Promise<void> {
      const user = await users.findById(caller.user.id);
      if (!user?.email) throw forbidden('Register an account first');
      if (user.emailVerified) throw conflict('This email is already verified');
      void mailToken(user.id, user.email, 'verify_email');
    },
  };
}

export type Accounts = ReturnType<typeof createAccounts>;
