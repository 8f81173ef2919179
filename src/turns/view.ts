import { type Static, Type } from '@sinclair/typebox';
import { Base64, SchemaVersion, Seq, Version } from '../shapes.js';
import { PatchOp } from '../state/view.js';

export const TurnId = Type.String({
  pattern: '^[\\x21-\\x7E]{1,255}$',
  'x-pattern-message': '1-255 visible ASCII characters (no spaces)',
  description: "The worker's own id for this turn (e.g. derived from the claimed input): a retry sends the same id and body.",
});

/** What a committed turn is answered, and what a retry of it replays. */
export const TurnAnswer = Type.Object({
  turn_id: Type.String(),
  version: Version,
  first_seq: Seq,
  last_seq: Seq,
});
export type TurnAnswer = Static<typeof TurnAnswer>;

/** A turn's state change. */
export const TurnState = Type.Object(
  {
    schema_version: Type.Optional(SchemaVersion),
    patch: Type.Optional(Type.Array(PatchOp, { description: 'RFC 6902 JSON Patch (json encoding).' })),
    merge_patch: Type.Optional(Type.Unknown({ description: 'RFC 7396 JSON Merge Patch (json encoding).' })),
    delta_base64: Type.Optional(Base64),
    snapshot: Type.Optional(Type.Unknown({ description: 'json encoding: the whole state (needs schema_version).' })),
    snapshot_base64: Type.Optional(Base64),
  },
  { additionalProperties: false, description: 'One state change against base_version: a delta or a snapshot, as the state routes take them.' },
);
export type TurnState = Static<typeof TurnState>;

const TokenCount = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/** One model's usage a turn reports. */
export const TurnUsage = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 200 }),
    input_tokens: TokenCount,
    output_tokens: TokenCount,
    cost_usd: Type.Optional(Type.Number({ minimum: 0, maximum: 1e12 })),
  },
  { additionalProperties: false },
);
export type TurnUsage = Static<typeof TurnUsage>;
