import { type Static, Type } from '@sinclair/typebox';
import { Timestamp } from '../shapes.js';

/** A lease as its holder sees it after renewing (never the token). */
export const LeaseState = Type.Object({ owner: Type.String(), fencing_token: Type.Integer(), expires_at: Timestamp });
export type LeaseState = Static<typeof LeaseState>;

/** A granted lease: the only answer that holds the secret token (a replay issues a fresh one). */
export const LeaseGrant = Type.Object({ owner: Type.String(), token: Type.String(), fencing_token: Type.Integer(), expires_at: Timestamp });
export type LeaseGrant = Static<typeof LeaseGrant>;
