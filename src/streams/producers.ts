import { DS_HEADER } from 'session-sync/client/protocol';
import { parseDecimal, quoteHeaderValue } from './header-values.js';

/**
 * Idempotent producers (PROTOCOL §5.2.1): Kafka-style exactly-once appends.
 * A producer names itself (`Producer-Id`), fences older instances of itself
 * with an epoch, and numbers its requests within an epoch; the server keeps,
 * per (stream, producer id), the highest (epoch, seq) it accepted. The rules
 * here are pure: the store reads that state under the stream's row lock,
 * asks `decideProducerAppend`, and writes the new state in the same
 * transaction as the append (§5.2.1 "Atomicity Requirements"), so a retry can
 * never be accepted twice.
 */

/**
 * The id is part of a primary key (stream, producer id): a btree entry must
 * stay well under Postgres's ~2.7 KB limit, and a UUID or "order-service-1"
 * (the protocol's examples) is far below this.
 */
export const MAX_PRODUCER_ID_LENGTH = 256;

/** What one request claims: "I am `id`, in epoch `epoch`, and this is my request number `seq`". */
export interface ProducerClaim {
  id: string;
  epoch: number;
  seq: number;
}

/** The three producer headers as they came (undefined: absent). */
export interface RawProducerHeaders {
  id: string | undefined;
  epoch: string | undefined;
  seq: string | undefined;
}

export type ProducerHeaders =
  | { kind: 'none' }
  | { kind: 'producer'; claim: ProducerClaim }
  /** 400: `detail` says which header and why; `headers` names each header at fault (lower case, as `errors[]` points at it) with what is wrong with it. */
  | { kind: 'invalid'; detail: string; headers: { name: string; message: string }[] };

/** Each producer header's wire name (lower case, as `errors[]` names it), from the protocol module. */
const HEADER_NAMES = { id: DS_HEADER.producerId, epoch: DS_HEADER.producerEpoch, seq: DS_HEADER.producerSeq } as const;

/** A header's name as people write it in prose (`producer-id` -> `Producer-Id`), for `detail`. */
function written(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => dash + letter.toUpperCase());
}

/**
 * The producer headers of a POST: all three or none (§5.2.1 "MUST be provided
 * together"), a non-empty id, and epoch and seq non-negative integers at most
 * 2^53-1 (JavaScript's safe integers, §5.2.1).
 */
export function parseProducerHeaders(raw: RawProducerHeaders): ProducerHeaders {
  const names = Object.keys(HEADER_NAMES) as (keyof RawProducerHeaders)[];
  const present = names.filter((name) => raw[name] !== undefined);
  if (present.length === 0) return { kind: 'none' };
  if (present.length < names.length) {
    const missing = names.filter((name) => raw[name] === undefined).map((name) => HEADER_NAMES[name]);
    return {
      kind: 'invalid',
      detail: `Producer-Id, Producer-Epoch and Producer-Seq go together (all three or none); missing: ${missing.map(written).join(', ')}`,
      headers: missing.map((name) => ({ name, message: 'is required with the other producer headers' })),
    };
  }
  const { id, epoch, seq } = raw as { id: string; epoch: string; seq: string };
  if (id === '') return invalid('Producer-Id is empty; it names the producer and must not be', DS_HEADER.producerId, 'is empty');
  if (id.length > MAX_PRODUCER_ID_LENGTH) {
    return invalid(
      `Producer-Id is ${id.length} characters long; it may have ${MAX_PRODUCER_ID_LENGTH}`,
      DS_HEADER.producerId,
      `is longer than ${MAX_PRODUCER_ID_LENGTH} characters`,
    );
  }
  const epochValue = parseDecimal(epoch, Number.MAX_SAFE_INTEGER, true);
  if (epochValue === undefined) return invalid(notAnInteger('Producer-Epoch', epoch), DS_HEADER.producerEpoch, NOT_AN_INTEGER);
  const seqValue = parseDecimal(seq, Number.MAX_SAFE_INTEGER, true);
  if (seqValue === undefined) return invalid(notAnInteger('Producer-Seq', seq), DS_HEADER.producerSeq, NOT_AN_INTEGER);
  return { kind: 'producer', claim: { id, epoch: epochValue, seq: seqValue } };
}

function invalid(detail: string, name: string, message: string): ProducerHeaders {
  return { kind: 'invalid', detail, headers: [{ name, message }] };
}

const NOT_AN_INTEGER = `is not a non-negative integer of at most ${Number.MAX_SAFE_INTEGER}`;

function notAnInteger(header: string, raw: string): string {
  return (
    `${header} must be a non-negative integer in decimal digits, at most ${Number.MAX_SAFE_INTEGER} ` +
    `(no sign, point, exponent or hex); got ${quoteHeaderValue(raw)}`
  );
}

/** What the server keeps per (stream, producer id): the epoch and the highest seq accepted in it. */
export interface ProducerState {
  epoch: number;
  seq: number;
}

/**
 * Whether the stream is closed and, if a producer closed it, with which
 * request: only that exact request, retried, is answered as a duplicate
 * (§5.2.1 "Stream Closure with Idempotent Producers"). The store keeps the
 * closing claim with `closed_at` (a closed stream accepts nothing after it,
 * so the closing producer's stored state stays that claim's epoch and seq).
 */
export type StreamClosure = { closed: false } | { closed: true; closedBy: ProducerClaim | null };

export type ProducerDecision =
  /** 200: append, and store `state` in the same transaction. */
  | { kind: 'accept'; state: ProducerState }
  /**
   * 204, nothing appended: the request was accepted before. Answer
   * `Producer-Epoch: epoch` and `Producer-Seq: highestSeq` (the highest
   * accepted in that epoch, not the request's seq: a pipelining client learns
   * how far the server got), and `Stream-Closed: true` when `closed`.
   */
  | { kind: 'duplicate'; epoch: number; highestSeq: number; closed: boolean }
  /** 403 with `Producer-Epoch: currentEpoch`: a newer instance of this producer took over (zombie fencing). */
  | { kind: 'stale-epoch'; currentEpoch: number }
  /** 400: a new epoch starts at seq 0. */
  | { kind: 'new-epoch-not-at-zero'; epoch: number; seq: number }
  /** 409 with `Producer-Expected-Seq` / `Producer-Received-Seq`: a request in between never arrived. */
  | { kind: 'sequence-gap'; expectedSeq: number; receivedSeq: number }
  /** 409 with `Stream-Closed: true` and the final `Stream-Next-Offset`. */
  | { kind: 'closed' };

/**
 * Judges one producer request against the state stored for (stream,
 * claim.id) (null: never seen), following §5.2.1 "Validation Logic".
 * Precedence, and why:
 * 1. A stale epoch is 403 even on a closed stream: fencing is about who may
 *    write at all, and a fenced instance must learn it was replaced rather
 *    than read "closed" as its own job being done (suite "Stream Closure >
 *    producer-state-survives-close" accepts 403 or 409; 403 says more).
 * 2. On a closed stream, the request that closed it, retried, is a duplicate
 *    (204 + Stream-Closed); any other is 409 closed, before the seq rules, as
 *    §5.2 puts "stream closed" first among conflicts.
 * 3. An unknown producer must start at seq 0 (in any epoch: a producer may
 *    introduce itself at epoch 1); otherwise the gap is from 0, as the
 *    reference server answers.
 * 4. A higher epoch must start at seq 0 (400), and then replaces the state.
 * 5. Same epoch: seq at or below the stored one is a duplicate, the next one
 *    is accepted, anything further is a gap.
 */
export function decideProducerAppend(
  stored: ProducerState | null,
  claim: ProducerClaim,
  closure: StreamClosure,
): ProducerDecision {
  if (stored !== null && claim.epoch < stored.epoch) return { kind: 'stale-epoch', currentEpoch: stored.epoch };
  if (closure.closed) {
    const by = closure.closedBy;
    const isClosingRequest = by !== null && by.id === claim.id && by.epoch === claim.epoch && by.seq === claim.seq;
    // Nothing is accepted after the close, so the closing seq is the highest of its epoch.
    return isClosingRequest ? { kind: 'duplicate', epoch: claim.epoch, highestSeq: claim.seq, closed: true } : { kind: 'closed' };
  }
  if (stored === null) {
    return claim.seq === 0
      ? { kind: 'accept', state: { epoch: claim.epoch, seq: 0 } }
      : { kind: 'sequence-gap', expectedSeq: 0, receivedSeq: claim.seq };
  }
  if (claim.epoch > stored.epoch) {
    return claim.seq === 0
      ? { kind: 'accept', state: { epoch: claim.epoch, seq: 0 } }
      : { kind: 'new-epoch-not-at-zero', epoch: claim.epoch, seq: claim.seq };
  }
  if (claim.seq <= stored.seq) return { kind: 'duplicate', epoch: stored.epoch, highestSeq: stored.seq, closed: false };
  if (claim.seq === stored.seq + 1) return { kind: 'accept', state: { epoch: stored.epoch, seq: claim.seq } };
  return { kind: 'sequence-gap', expectedSeq: stored.seq + 1, receivedSeq: claim.seq };
}

/** The 400 detail for `new-epoch-not-at-zero`, so every route words it alike. */
export function newEpochDetail(decision: { epoch: number; seq: number }): string {
  return `Producer-Epoch ${decision.epoch} is a new epoch, which starts at Producer-Seq 0; got ${decision.seq}`;
}

/**
 * The status a producer request is answered with. An accepted request with a
 * body is 200 (§5.2.1: "200 OK: Append successful (new data)"), unlike a plain
 * append's 204; an accepted close-only request (no body) appended nothing and
 * is 204 (suite "idempotent-close-only-with-producer-headers").
 */
export function producerStatus(decision: ProducerDecision, request: { closeOnly: boolean }): 200 | 204 | 400 | 403 | 409 {
  switch (decision.kind) {
    case 'accept':
      return request.closeOnly ? 204 : 200;
    case 'duplicate':
      return 204;
    case 'stale-epoch':
      return 403;
    case 'new-epoch-not-at-zero':
      return 400;
    case 'sequence-gap':
    case 'closed':
      return 409;
  }
}

/**
 * The producer headers of the answer (§5.2.1 "Response Headers"); the route
 * adds the stream's own (Stream-Next-Offset, Stream-Closed). On success both
 * echo the epoch and give the highest seq accepted in it, which for an accept
 * is the request's own.
 */
export function producerResponseHeaders(decision: ProducerDecision): Record<string, string> {
  switch (decision.kind) {
    case 'accept':
      return { [DS_HEADER.producerEpoch]: String(decision.state.epoch), [DS_HEADER.producerSeq]: String(decision.state.seq) };
    case 'duplicate':
      return { [DS_HEADER.producerEpoch]: String(decision.epoch), [DS_HEADER.producerSeq]: String(decision.highestSeq) };
    case 'stale-epoch':
      return { [DS_HEADER.producerEpoch]: String(decision.currentEpoch) };
    case 'sequence-gap':
      return {
        [DS_HEADER.producerExpectedSeq]: String(decision.expectedSeq),
        [DS_HEADER.producerReceivedSeq]: String(decision.receivedSeq),
      };
    case 'new-epoch-not-at-zero':
    case 'closed':
      return {};
  }
}
