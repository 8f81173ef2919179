import { DS_OFFSET } from 'session-sync/client/protocol';
import { InvalidRequest } from '../errors.js';

/*
 * A Durable Streams offset is a cursor into the session's history: "after seq
 * N", written `0000000000000000_%016d`. Fixed width, so string order is seq
 * order (the protocol compares offsets as strings); the first part is always
 * zero (the reference server's read sequence, kept for its shape: the
 * conformance suite writes `0000000000000000_0000000000000000` for the start).
 */

const WIDTH = 16;
const ZERO = '0'.repeat(WIDTH);
const OFFSET = /^(\d{16})_(\d{16})$/;

/** Where a read starts: after a seq, or at the tail (`now`). */
export type ReadFrom = { after: number } | { tail: true };

/** The offset of the position after `seq` (0: before the first event). */
export function offsetOf(seq: number): string {
  return `${ZERO}_${String(seq).padStart(WIDTH, '0')}`;
}

/** The `offset` query parameter: `-1` (the start), `now` (the tail) or an offset this server gave; anything else is 400. */
export function parseOffset(value: unknown): ReadFrom {
  if (value === undefined || value === DS_OFFSET.start) return { after: 0 };
  if (value === DS_OFFSET.now) return { tail: true };
  if (typeof value !== 'string') throw badOffset('is given more than once');
  const match = OFFSET.exec(value);
  if (!match || match[1] !== ZERO) throw badOffset(`${JSON.stringify(value)} is not -1, now or an offset this server gave`);
  const seq = Number(match[2]);
  if (!Number.isSafeInteger(seq)) throw badOffset(`${JSON.stringify(value)} is beyond any history`);
  return { after: seq };
}

function badOffset(what: string): InvalidRequest {
  return new InvalidRequest(`offset ${what}`, [{ in: 'querystring', field: '/offset', message: what }]);
}
