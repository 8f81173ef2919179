import { DS_HEADER } from 'session-sync/client/protocol';
import type { Tx } from '../db/client.js';
import { InvalidRequest, ProducerEpochStale, ProducerSeqGap, SessionClosed } from '../errors.js';
import type { SessionRow } from '../sessions/store.js';
import { offsetOf } from './offsets.js';
import {
  decideProducerAppend,
  newEpochDetail,
  type ProducerClaim,
  type ProducerDecision,
  producerResponseHeaders,
  type ProducerState,
  type StreamClosure,
} from './producers.js';
import { findProducerState, recordClosingProducer, saveProducerState } from './statements.js';

/*
 * The store's side of idempotent producers (PROTOCOL §5.2.1): the rules are
 * producers.ts's; this reads and writes their state inside the append's
 * transaction, after the session row is locked. The lock orders every write
 * to the stream, whichever producer or instance sends it, so reading a
 * producer's state, judging the request and storing the new state cannot
 * interleave with another request of the same producer, and the state
 * commits or rolls back with the events it accepted.
 */

/** What the append goes on with: an accepted request appends; a duplicate is answered without appending. */
export type ProducerVerdict = Extract<ProducerDecision, { kind: 'accept' } | { kind: 'duplicate' }>;

/**
 * Judges `claim` against the producer's stored state and the stream's
 * closure; every refusal is thrown as its problem, with the headers §5.2.1
 * gives it (403 `Producer-Epoch`, 409 `Producer-Expected-Seq` /
 * `Producer-Received-Seq`, 409 closed with `Stream-Closed`).
 */
export async function judgeProducer(tx: Tx, session: SessionRow, claim: ProducerClaim): Promise<ProducerVerdict> {
  const stored = (await findProducerState(tx, session.sid, claim.id)) ?? null;
  const decision = decideProducerAppend(stored, claim, closureOf(session));
  const headers = producerResponseHeaders(decision);
  switch (decision.kind) {
    case 'accept':
    case 'duplicate':
      return decision;
    case 'stale-epoch':
      throw new ProducerEpochStale(claim.id, claim.epoch, decision.currentEpoch, headers);
    case 'sequence-gap':
      throw new ProducerSeqGap(claim.id, decision.expectedSeq, decision.receivedSeq, headers);
    case 'new-epoch-not-at-zero':
      throw new InvalidRequest(newEpochDetail(decision), [{ in: 'headers', field: `/${DS_HEADER.producerSeq}`, message: 'is not 0' }]);
    case 'closed':
      throw new SessionClosed(session.id, { [DS_HEADER.closed]: 'true', [DS_HEADER.nextOffset]: offsetOf(session.lastSeq) });
  }
}

/**
 * Stores an accepted request's state, in the transaction of its append; a
 * request that closed the stream is also kept as the closing one, so its
 * retry (even with another body, suite "close-with-different-body-dedup") is
 * told the stream is closed by it rather than refused.
 */
export async function settleProducer(tx: Tx, sid: number, claim: ProducerClaim, state: ProducerState, closed: boolean): Promise<void> {
  await saveProducerState(tx, sid, claim.id, state);
  if (closed) await recordClosingProducer(tx, sid, claim);
}

function closureOf(session: SessionRow): StreamClosure {
  if (session.closedAt === null) return { closed: false };
  const by = session.closedBy;
  return { closed: true, closedBy: by === null ? null : { id: by.producer_id, epoch: by.epoch, seq: by.seq } };
}
