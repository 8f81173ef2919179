import { type Static, Type } from '@sinclair/typebox';

export const RetentionObject = Type.Object(
  {
    max_events: Type.Optional(
      Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Keep at most this many recent events.' }),
    ),
    max_age_ms: Type.Optional(
      Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Trim events older than this.' }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Trim history past either bound, in the background, only where the state stays materialisable. `{}` keeps everything.',
  },
);

export type Retention = Static<typeof RetentionObject>;

export const RetentionPolicy = Type.Union([RetentionObject, Type.Null()], {
  description: 'The session\'s retention policy; null: the server default (HISTORY_MAX_EVENTS, HISTORY_MAX_AGE_MS).',
});

export const HistoryStart = Type.Integer({
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  description: 'History is complete after this seq (0 until something is trimmed).',
});

export const ForkedFrom = Type.Union(
  [
    Type.Object({
      session_id: Type.String(),
      version: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
    }),
    Type.Object({
      session_id: Type.String(),
      seq: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'The history is the source\'s up to this seq.' }),
      sub_offset: Type.Integer({
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        description: 'Then this many more messages (JSON) or bytes (any other type), as one event when it cuts one.',
      }),
    }),
    Type.Null(),
  ],
  {
    description:
      'Set on a fork: the source session and the version it was forked at (`POST /v1/sessions/{id}/fork`), or, for a ' +
      'Durable Streams fork (`Stream-Forked-From`), the seq and sub-offset it was forked at.',
  },
);

export const TtlMs = Type.Union(
  [Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), Type.Null()],
  { description: 'Delete the session once no write came for this long; null: never.' },
);
export const ExpiresAt = Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
  description:
    'When the session expires unless written to (last write + ttl_ms; a Durable Streams read counts as a write here); ' +
    "for a stream with Stream-Expires-At, no later than that.",
});
