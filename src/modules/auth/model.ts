import { t } from 'elysia';
import { DateTimeInput } from '../../http/time.ts';
import { PublicUser } from '../users/model.ts';

// Surrounding spaces and case are forgiven (emails are normalised), not a malformed address.
const Email = t.String({ maxLength: 254, pattern: '^\\s*[^\\s@]+@[^\\s@]+\\.[^\\s@]+\\s*$', description: 'An email address' });
// argon2 takes any length; the cap keeps hashing time bounded.
const NewPassword = t.String({ minLength: 8, maxLength: 256, description: 'At least 8 characters' });
const AnyPassword = t.String({ minLength: 1, maxLength: 256 });
const OpaqueToken = t.String({ minLength: 1, maxLength: 512 });

export const RegisterBody = t.Object({ email: Email, password: NewPassword, name: t.Optional(t.String({ minLength: 1, maxLength: 100 })) });
export const LoginBody = t.Object({ email: t.String({ minLength: 1, maxLength: 254 }), password: AnyPassword });
export const RefreshBody = t.Object({ refreshToken: OpaqueToken });
export const ChangePasswordBody = t.Object({ currentPassword: AnyPassword, newPassword: NewPassword });
export const ForgotPasswordBody = t.Object({ email: t.String({ minLength: 1, maxLength: 254 }) });
export const ResetPasswordBody = t.Object({ token: OpaqueToken, newPassword: NewPassword });
export const VerifyEmailBody = t.Object({ token: OpaqueToken });

export const AuthResponse = t.Object({
  user: PublicUser,
  accessToken: t.String({ description: 'JWT for Authorization: Bearer' }),
  refreshToken: t.String({ description: 'Opaque; good for one refresh, then replaced' }),
  expiresIn: t.Integer({ description: 'Seconds until the access token expires' }),
});
export type AuthResponse = typeof AuthResponse.static;

export const Accepted = t.Object({ message: t.String() });

export const SessionView = t.Object({
  id: t.String(),
  userAgent: t.Union([t.String(), t.Null()]),
  ip: t.Union([t.String(), t.Null()]),
  createdAt: t.String({ format: 'date-time' }),
  lastSeenAt: t.String({ format: 'date-time' }),
  expiresAt: t.String({ format: 'date-time' }),
  current: t.Boolean({ description: 'The session of the token making this request' }),
});
export type SessionView = typeof SessionView.static;

export const CreateApiKeyBody = t.Object({
  name: t.String({ minLength: 1, maxLength: 100 }),
  expiresAt: t.Optional(DateTimeInput({ description: 'When the key stops working: in the future, and no later than 9999-12-31 (UTC)' })),
});

export const ApiKeyView = t.Object({
  id: t.String(),
  name: t.String(),
  prefix: t.String({ description: 'The first characters of the key, to tell keys apart' }),
  createdAt: t.String({ format: 'date-time' }),
  expiresAt: t.Union([t.String({ format: 'date-time' }), t.Null()]),
  lastUsedAt: t.Union([t.String({ format: 'date-time' }), t.Null()]),
});
export type ApiKeyView = typeof ApiKeyView.static;

export const CreatedApiKey = t.Composite([ApiKeyView, t.Object({ key: t.String({ description: 'Shown once: store it now' }) })]);
export type CreatedApiKey = typeof CreatedApiKey.static;

export const IdParams = t.Object({ id: t.String({ minLength: 1, maxLength: 64 }) });
