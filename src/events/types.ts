import { Type } from '@sinclair/typebox';
import { ReservedEventType } from '../errors.js';

export const EVENT_TYPE_PATTERN = '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)*$';

/** Lowercase dotted names; no CR or LF can ever appear, so a type cannot break an SSE frame. */
export const EventType = Type.String({
  pattern: EVENT_TYPE_PATTERN,
  maxLength: 128,
  'x-pattern-message': 'a lowercase dotted name such as tool.call (a-z, 0-9, _ and dots between parts)',
  description: 'Lowercase dotted name, e.g. `tool.call`; at most 128 characters.',
});

/** Written by the server only. */
export const RESERVED_PREFIXES = ['session.', 'state.', 'message.', 'queue.', 'lease.', 'turn.', 'attachment.'] as const;

export function checkClientType(type: string, index?: number): void {
  if (RESERVED_PREFIXES.some((prefix) => type.startsWith(prefix))) throw new ReservedEventType(type, RESERVED_PREFIXES, index);
}
