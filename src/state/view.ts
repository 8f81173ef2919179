import { type Static, Type } from '@sinclair/typebox';
import { Seq, Version } from '../shapes.js';

/** What an accepted state write answers: the version it made and the seq of its state.* event. */
export const WriteAck = Type.Object({ version: Version, seq: Seq });
export type WriteAck = Static<typeof WriteAck>;
