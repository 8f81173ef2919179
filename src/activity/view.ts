import { type Static, Type } from '@sinclair/typebox';
import { Timestamp } from '../shapes.js';

export const Activity = Type.Object(
  {
    status: Type.String(),
    detail: Type.Optional(Type.Unknown()),
    expired: Type.Optional(Type.Literal(true)),
    updated_at: Type.Optional(Timestamp),
    expires_at: Type.Optional(Timestamp),
  },
  { description: 'What the agent is doing now; `{status: "idle"}` if never set, `expired: true` once its TTL passed.' },
);
export type ActivityView = Static<typeof Activity>;

export const IDLE: ActivityView = { status: 'idle' };
