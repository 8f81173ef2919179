import { type Static, Type } from '@sinclair/typebox';
import { StringEnum, Timestamp } from '../shapes.js';
import { BATCH_STATUSES } from '../values.js';

export const Batch = Type.Object({
  batch_id: Type.String(),
  status: StringEnum(BATCH_STATUSES),
  items: Type.Array(Type.Unknown()),
  created_at: Timestamp,
});
export type BatchView = Static<typeof Batch>;

export const Claim = Type.Object({ claim_id: Type.String(), batches: Type.Array(Batch), expires_at: Timestamp });
export type ClaimView = Static<typeof Claim>;
