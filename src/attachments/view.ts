import { type Static, Type } from '@sinclair/typebox';
import { Timestamp } from '../shapes.js';

export const AttachmentId = Type.String({
  pattern: '^[0-9a-f]{64}$',
  'x-pattern-message': 'an attachment_id as the upload returned it (64 lowercase hex digits: the SHA-256 of its bytes)',
  description: 'The SHA-256 of the bytes, in hex: the same bytes on one session are one attachment.',
});

export const Attachment = Type.Object({
  attachment_id: AttachmentId,
  size: Type.Integer({ minimum: 0 }),
  content_type: Type.String(),
  sha256: Type.String(),
  committed: Type.Boolean(),
  created_at: Timestamp,
});
export type AttachmentView = Static<typeof Attachment>;
