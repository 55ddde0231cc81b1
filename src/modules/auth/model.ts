import { type TSchema, t } from 'elysia';
import { DateTimeInput } from '../../http/time.ts';
import { PublicUser, Usage } from '../users/model.ts';

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

const orNull = <T extends TSchema>(schema: T) => t.Union([schema, t.Null()]);
const KeyName = t.String({ minLength: 1, maxLength: 100 });
const KeyExpiry = DateTimeInput({ description: 'When the key stops working: in the future, and no later than 9999-12-31 (UTC)' });
// Limits are counts: int4 on Postgres for the per-minute ones, bigint for the monthly budget.
const ModelPatterns = t.Array(t.String({ minLength: 1, maxLength: 200 }), {
  maxItems: 100,
  description:
    'Models the key may call, as `provider/model` ids or globs (`openai/*`, `anthropic/claude-*-5-5`, `*`); a call naming any other is refused (403); an empty list allows none. null: every model',
});
const RequestsPerMinute = t.Integer({
  minimum: 1,
  maximum: 2_000_000_000,
  description: 'LLM calls per minute (null: no limit of its own)',
});
const TokensPerMinute = t.Integer({
  minimum: 1,
  maximum: 2_000_000_000,
  description: 'Input + output tokens per minute, charged when each call ends (null: no limit of its own)',
});
const MonthlyTokenBudget = t.Integer({
  minimum: 1,
  maximum: 1_000_000_000_000_000,
  description: 'Input + output tokens per calendar month (UTC) (null: no budget of its own)',
});

/** The limits a key may carry, as a request sets them: null or absent is "not limited". */
const KeyLimitsInput = {
  allowedModels: t.Optional(orNull(ModelPatterns)),
  requestsPerMinute: t.Optional(orNull(RequestsPerMinute)),
  tokensPerMinute: t.Optional(orNull(TokensPerMinute)),
  monthlyTokenBudget: t.Optional(orNull(MonthlyTokenBudget)),
};

export const CreateApiKeyBody = t.Object({ name: KeyName, expiresAt: t.Optional(KeyExpiry), ...KeyLimitsInput });
export type CreateApiKeyBody = typeof CreateApiKeyBody.static;

export const UpdateApiKeyBody = t.Object(
  { name: t.Optional(KeyName), expiresAt: t.Optional(orNull(KeyExpiry)), ...KeyLimitsInput },
  { description: 'Only the fields given change; null removes an expiry or a limit' },
);
export type UpdateApiKeyBody = typeof UpdateApiKeyBody.static;

const KeyLimitsView = {
  allowedModels: orNull(t.Array(t.String())),
  requestsPerMinute: orNull(t.Integer()),
  tokensPerMinute: orNull(t.Integer()),
  monthlyTokenBudget: orNull(t.Integer()),
};

export const ApiKeyView = t.Object({
  id: t.String(),
  name: t.String(),
  prefix: t.String({ description: 'The first characters of the key, to tell keys apart' }),
  createdAt: t.String({ format: 'date-time' }),
  expiresAt: t.Union([t.String({ format: 'date-time' }), t.Null()]),
  lastUsedAt: t.Union([t.String({ format: 'date-time' }), t.Null()]),
  ...KeyLimitsView,
});
export type ApiKeyView = typeof ApiKeyView.static;

export const ApiKeyUsage = t.Composite([
  Usage,
  t.Object({
    apiKeyId: t.String(),
    limits: t.Object(KeyLimitsView, { description: 'What the key carries now' }),
    month: t.Object(
      {
        used: t.Integer({ description: 'Input + output tokens of this calendar month (UTC)' }),
        remaining: orNull(t.Integer({ description: 'What is left of monthlyTokenBudget (null: no budget)' })),
        resetsAt: t.String({ format: 'date-time', description: 'The 1st of next month, 00:00 UTC' }),
      },
      { description: 'This calendar month, against the key’s monthly token budget' },
    ),
  }),
]);
export type ApiKeyUsage = typeof ApiKeyUsage.static;

export const CreatedApiKey = t.Composite([ApiKeyView, t.Object({ key: t.String({ description: 'Shown once: store it now' }) })]);
export type CreatedApiKey = typeof CreatedApiKey.static;

export const IdParams = t.Object({ id: t.String({ minLength: 1, maxLength: 64 }) });
