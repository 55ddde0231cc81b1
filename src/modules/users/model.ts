import { t } from 'elysia';
import { pageQuery, queryInteger } from '../../http/pagination.ts';
import { Role, Tier } from '../../http/vocabulary.ts';

export type { Role, Tier } from '../../config/vocabulary.ts';

/** The user as register, login, guest and refresh answer it. */
export const PublicUser = t.Object({
  id: t.String(),
  email: t.Union([t.String(), t.Null()]),
  name: t.Union([t.String(), t.Null()]),
  role: Role,
  tier: Tier,
  emailVerified: t.Boolean(),
  createdAt: t.String({ format: 'date-time' }),
});
export type PublicUser = typeof PublicUser.static;

/** The caller's own profile: the public user plus what only they see. */
export const Profile = t.Composite([
  PublicUser,
  t.Object({
    avatarUrl: t.Union([t.String(), t.Null()]),
    preferences: t.Record(t.String(), t.Unknown()),
    updatedAt: t.String({ format: 'date-time' }),
  }),
]);
export type Profile = typeof Profile.static;

export const AdminUserView = t.Composite([PublicUser, t.Object({ disabled: t.Boolean(), updatedAt: t.String({ format: 'date-time' }) })]);
export type AdminUserView = typeof AdminUserView.static;

export const UpdateProfileBody = t.Object(
  {
    name: t.Optional(t.Union([t.String({ minLength: 1, maxLength: 100 }), t.Null()])),
    // `uri` alone takes `http://` with no host: the pattern asks for one.
    avatarUrl: t.Optional(
      t.Union([t.String({ format: 'uri', maxLength: 2048, pattern: '^https?://[^\\s/?#@]+(?:[/?#]\\S*)?$' }), t.Null()]),
    ),
  },
  { additionalProperties: false },
);

export const maxPreferencesBytes = 16 * 1024;

export const maxPreferenceKeyLength = 100;

/** Keys that name an object's prototype machinery: never a preference (see PreferencesBody). */
export const reservedPreferenceKeys = ['__proto__', 'constructor', 'prototype'] as const;

/**
 * Merged into the stored preferences key by key; a key set to null is removed. A record's key
 * schema is only a pattern to TypeBox (its maxLength is ignored), and keys that match no pattern
 * pass unless additional properties are refused: hence the pattern, and the `false`. The pattern
 * also refuses the reserved keys (`__proto__`, `constructor`, `prototype`): 422 naming the field.
 */
export const PreferencesBody = t.Record(
  t.String({ pattern: `^(?!(?:${reservedPreferenceKeys.join('|')})$)[\\s\\S]{0,${maxPreferenceKeyLength}}$` }),
  t.Unknown(),
  {
    additionalProperties: false,
    description:
      `A JSON object merged into the stored preferences (null removes a key; keys of at most ${maxPreferenceKeyLength} characters, ` +
      `and none of ${reservedPreferenceKeys.join(', ')}); at most ${maxPreferencesBytes} bytes stored`,
  },
);

export const UsageQuery = t.Object({ days: t.Optional(queryInteger('days', { minimum: 1, maximum: 366, default: 30 })) });

const UsageTotals = t.Object({ requests: t.Integer(), inputTokens: t.Integer(), outputTokens: t.Integer() });
export const Usage = t.Object({
  from: t.String({ description: 'First day included (YYYY-MM-DD, UTC)' }),
  to: t.String({ description: 'Last day included (YYYY-MM-DD, UTC)' }),
  totals: UsageTotals,
  byDay: t.Array(t.Composite([t.Object({ day: t.String() }), UsageTotals])),
  byModel: t.Array(t.Composite([t.Object({ provider: t.String(), model: t.String() }), UsageTotals])),
});
export type Usage = typeof Usage.static;

export const AdminUsersQuery = pageQuery({
  q: t.Optional(t.String({ maxLength: 254, description: 'Part of an email address' })),
});

export const AdminUpdateUserBody = t.Object(
  { role: t.Optional(Role), tier: t.Optional(Tier), disabled: t.Optional(t.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);
