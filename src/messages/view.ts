import { type Static, Type } from '@sinclair/typebox';
import { Seq, StringEnum, Timestamp } from '../shapes.js';
import { MESSAGE_ROLES } from '../values.js';

export const Role = StringEnum(MESSAGE_ROLES);

export const Kind = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$',
  'x-pattern-message': 'letters, digits and . _ : - only, starting with a letter or digit',
  description: 'A free tag (e.g. `message`, `summary`, `system_prompt`); default `message`.',
});

export const Message = Type.Object({
  id: Type.String(),
  seq: Seq,
  role: Role,
  kind: Type.String(),
  content: Type.Unknown(),
  created_at: Timestamp,
  archived_at: Type.Optional(Timestamp),
});
export type MessageView = Static<typeof Message>;
