/**
 * A stream event id as clients send it back (`Last-Event-ID`, `?after=`): `<ms>-<seq>`, the form
 * of a Redis stream id, whose two parts are unsigned 64-bit integers. A larger part is no id of
 * ours, and Redis answers it with an error ("Invalid stream ID"): it is refused where it enters.
 */
export const eventIdPattern = '^\\d{1,20}-\\d{1,20}$';

const shape = new RegExp(eventIdPattern);
const maxPart = 2n ** 64n - 1n;

export function isEventId(text: string): boolean {
  if (!shape.test(text)) return false;
  const [ms, seq] = text.split('-') as [string, string];
  return BigInt(ms) <= maxPart && BigInt(seq) <= maxPart;
}
