import { Type } from '@sinclair/typebox';
import { ReservedEventType } from '../errors.js';
import { RESERVED_PREFIXES, SERVER_EVENT_TYPES as SERVER_EVENT_TYPE_LIST } from 'session-sync/client/protocol';

export const EVENT_TYPE_PATTERN = '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)*$';

/** Lowercase dotted names; no CR or LF can ever appear, so a type cannot break an SSE frame. */
export const EventType = Type.String({
  pattern: EVENT_TYPE_PATTERN,
  maxLength: 128,
  'x-pattern-message': 'a lowercase dotted name such as tool.call (a-z, 0-9, _ and dots between parts)',
  description: 'Lowercase dotted name, e.g. `tool.call`; at most 128 characters.',
});

export function checkClientType(type: string, index?: number): void {
  if (isReservedType(type)) throw new ReservedEventType(type, RESERVED_PREFIXES, index);
}

/**
 * The durable event types the server writes under the reserved prefixes. An
 * import takes these (a copy's history holds what the server wrote) and no
 * other reserved type: `session.deleted`, `session.activity` and the like are
 * only ever live frames, and one stored in a history would be replayed as if
 * it had happened. A new type the server writes belongs in the protocol's `EVENT`.
 */
export const SERVER_EVENT_TYPES: ReadonlySet<string> = new Set(SERVER_EVENT_TYPE_LIST);

export function isReservedType(type: string): boolean {
  return RESERVED_PREFIXES.some((prefix) => type.startsWith(prefix));
}
