import { type Static, Type } from '@sinclair/typebox';
import { Base64, SchemaVersion, Seq, StringEnum, Version } from '../shapes.js';

/** What an accepted state write answers: the version it made and the seq of its state.* event. */
export const WriteAck = Type.Object({ version: Version, seq: Seq });
export type WriteAck = Static<typeof WriteAck>;

export const PatchOp = Type.Object(
  {
    op: StringEnum(['add', 'remove', 'replace', 'move', 'copy', 'test']),
    path: Type.String({ description: 'JSON Pointer (RFC 6901).' }),
    from: Type.Optional(Type.String()),
    value: Type.Optional(Type.Unknown()),
  },
  {
    // RFC 6902 section 4: members an operation does not define are ignored.
    additionalProperties: true,
    description:
      'One RFC 6902 operation; an op missing its value or from is refused as patch_failed; other members are ignored (and kept in the stored delta).',
  },
);

/** PUT /v1/sessions/:id/state. */
export const SnapshotBody = Type.Object(
  {
    base_version: Version,
    schema_version: SchemaVersion,
    snapshot: Type.Optional(Type.Unknown({ description: 'json encoding: the whole state.' })),
    snapshot_base64: Type.Optional(Base64),
  },
  { additionalProperties: false },
);
export type SnapshotInput = Static<typeof SnapshotBody>;

/** POST /v1/sessions/:id/deltas. */
export const DeltaBody = Type.Object(
  {
    base_version: Version,
    schema_version: Type.Optional(SchemaVersion),
    patch: Type.Optional(Type.Array(PatchOp, { description: 'RFC 6902 JSON Patch (json encoding).' })),
    merge_patch: Type.Optional(Type.Unknown({ description: 'RFC 7396 JSON Merge Patch (json encoding).' })),
    delta_base64: Type.Optional(Base64),
  },
  { additionalProperties: false },
);
export type DeltaInput = Static<typeof DeltaBody>;
