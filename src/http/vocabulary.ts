import { t } from 'elysia';
import {
  canonicalProvider,
  type MessageRole as MessageRoleName,
  type MessageStatus as MessageStatusName,
  messageRoles,
  messageStatuses,
  type ProviderName,
  providerAliases,
  providerNames,
  type Role as RoleName,
  roles,
  type Tier as TierName,
  tiers,
} from '../config/vocabulary.ts';

// Request and response schemas of the shared vocabulary (src/config/vocabulary.ts): unions of
// literals taken from its arrays. The checks below fail `bun run typecheck` when an array gains a
// word its schema does not list.
export const Provider = t.Union([
  t.Literal(providerNames[0]),
  t.Literal(providerNames[1]),
  t.Literal(providerNames[2]),
  t.Literal(providerNames[3]),
]);
/**
 * A provider named in a request (body, query, frame): a canonical name or an alias (`claude`),
 * decoded to the canonical name before the handler sees it, so only canonical names are stored
 * and answered. Responses use `Provider`.
 */
export const ProviderInput = t
  .Transform(
    t.Union([...Provider.anyOf, ...Object.keys(providerAliases).map((alias) => t.Literal(alias))], {
      description: `One of ${providerNames.join(', ')}; ${Object.entries(providerAliases)
        .map(([alias, name]) => `\`${alias}\` is accepted for ${name}`)
        .join(', ')}`,
    }),
  )
  .Decode((word): ProviderName => canonicalProvider(word)!)
  .Encode((name) => name);

export const Role = t.Union([t.Literal(roles[0]), t.Literal(roles[1]), t.Literal(roles[2])]);
export const Tier = t.Union([t.Literal(tiers[0]), t.Literal(tiers[1]), t.Literal(tiers[2])]);
export const MessageRole = t.Union([
  t.Literal(messageRoles[0]),
  t.Literal(messageRoles[1]),
  t.Literal(messageRoles[2]),
  t.Literal(messageRoles[3]),
]);
export const MessageStatus = t.Union([
  t.Literal(messageStatuses[0]),
  t.Literal(messageStatuses[1]),
  t.Literal(messageStatuses[2]),
  t.Literal(messageStatuses[3]),
  t.Literal(messageStatuses[4]),
]);

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const complete = <_ extends true>() => undefined;
complete<Same<typeof Provider.static, ProviderName>>();
complete<Same<typeof Role.static, RoleName>>();
complete<Same<typeof Tier.static, TierName>>();
complete<Same<typeof MessageRole.static, MessageRoleName>>();
complete<Same<typeof MessageStatus.static, MessageStatusName>>();
