import { Type } from '@sinclair/typebox';
import { Seq, Version } from '../shapes.js';

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
