import { type Static, Type } from '@sinclair/typebox';
import { Timestamp } from '../shapes.js';

/** A lease as a session shows it and a renewal answers it: never its token. */
export const Lease = Type.Object(
  { owner: Type.String(), fencing_token: Type.Integer(), expires_at: Timestamp },
  { description: 'The unexpired execution lease (never its token).' },
);
export type Lease = Static<typeof Lease>;

/** A granted lease: the only answer that holds the secret token (a replay issues a fresh one). */
export const LeaseGrant = Type.Object({ owner: Type.String(), token: Type.String(), fencing_token: Type.Integer(), expires_at: Timestamp });
export type LeaseGrant = Static<typeof LeaseGrant>;
