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

/** PUT /v1/sessions/:id/activity. */
export const ActivityBody = Type.Object(
  {
    status: Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\r\\n]*$', 'x-pattern-message': 'one line (no CR or LF)', examples: ['thinking'] }),
    detail: Type.Optional(Type.Unknown()),
    ttl_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000, description: 'Reads as idle (expired) after this.' })),
  },
  { additionalProperties: false },
);
export type ActivityInput = Static<typeof ActivityBody>;
