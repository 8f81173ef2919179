import { type Static, Type } from '@sinclair/typebox';
import { Seq, StringEnum, Timestamp } from '../shapes.js';
import { MESSAGE_ROLES } from '../values.js';

export const Role = StringEnum(MESSAGE_ROLES);

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
