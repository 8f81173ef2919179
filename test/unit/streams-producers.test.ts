import { describe, expect, it } from 'vitest';
import {
  MAX_PRODUCER_ID_LENGTH,
  decideProducerAppend,
  newEpochDetail,
  parseProducerHeaders,
  producerResponseHeaders,
  producerStatus,
  type ProducerClaim,
  type ProducerDecision,
  type ProducerState,
  type StreamClosure,
} from '../../src/streams/producers.js';

const OPEN: StreamClosure = { closed: false };
const claim = (epoch: number, seq: number, id = 'p'): ProducerClaim => ({ id, epoch, seq });
const state = (epoch: number, seq: number): ProducerState => ({ epoch, seq });
const closedBy = (by: ProducerClaim | null): StreamClosure => ({ closed: true, closedBy: by });

describe('parseProducerHeaders (PROTOCOL §5.2.1 "Request Headers")', () => {
  it('no producer header at all is a plain append', () => {
    expect(parseProducerHeaders({ id: undefined, epoch: undefined, seq: undefined })).toEqual({ kind: 'none' });
  });

  it('reads the three headers into a claim', () => {
    expect(parseProducerHeaders({ id: 'order-service-1', epoch: '2', seq: '17' })).toEqual({
      kind: 'producer',
      claim: { id: 'order-service-1', epoch: 2, seq: 17 },
    });
  });

  it.each([
    [{ id: 'p', epoch: undefined, seq: undefined }, 'Producer-Epoch, Producer-Seq'],
    [{ id: undefined, epoch: '0', seq: undefined }, 'Producer-Id, Producer-Seq'],
    [{ id: 'p', epoch: '0', seq: undefined }, 'Producer-Seq'],
    [{ id: undefined, epoch: '0', seq: '0' }, 'Producer-Id'],
  ])('some but not all headers is refused, naming the missing ones (suite "should require all producer headers together")', (raw, missing) => {
    const parsed = parseProducerHeaders(raw);
    expect(parsed.kind).toBe('invalid');
    expect(parsed.kind === 'invalid' && parsed.detail).toContain(`missing: ${missing}`);
    expect(parsed.kind === 'invalid' && parsed.headers).toEqual(
      missing.split(', ').map((name) => ({ name: name.toLowerCase(), message: 'is required with the other producer headers' })),
    );
  });

  it('an empty Producer-Id is refused (suite "should reject empty Producer-Id")', () => {
    expect(parseProducerHeaders({ id: '', epoch: '0', seq: '0' })).toEqual({
      kind: 'invalid',
      detail: 'Producer-Id is empty; it names the producer and must not be',
      headers: [{ name: 'producer-id', message: 'is empty' }],
    });
  });

  it('a Producer-Id longer than a primary key comfortably holds is refused; one at the limit is taken', () => {
    const atLimit = 'x'.repeat(MAX_PRODUCER_ID_LENGTH);
    expect(parseProducerHeaders({ id: atLimit, epoch: '0', seq: '0' }).kind).toBe('producer');
    const parsed = parseProducerHeaders({ id: `${atLimit}x`, epoch: '0', seq: '0' });
    expect(parsed).toEqual({
      kind: 'invalid',
      detail: `Producer-Id is 257 characters long; it may have ${MAX_PRODUCER_ID_LENGTH}`,
      headers: [{ name: 'producer-id', message: `is longer than ${MAX_PRODUCER_ID_LENGTH} characters` }],
    });
  });

  it.each(['1abc', '0xyz', '1e3', '-1', '+1', '1.0', '0x10', ' ', '', '1 2', '٣'])(
    'Producer-Seq %j is not an integer (suite "should reject invalid integer formats in producer headers")',
    (seq) => {
      const parsed = parseProducerHeaders({ id: 'p', epoch: '0', seq });
      expect(parsed.kind).toBe('invalid');
      expect(parsed.kind === 'invalid' && parsed.detail).toContain(`Producer-Seq must be a non-negative integer`);
      expect(parsed.kind === 'invalid' && parsed.detail).toContain(`got ${JSON.stringify(seq)}`);
      expect(parsed.kind === 'invalid' && parsed.headers).toEqual([{ name: 'producer-seq', message: 'is not a non-negative integer of at most 9007199254740991' }]);
    },
  );

  it.each(['0xyz', '1e3', '-1'])('Producer-Epoch %j is not an integer', (epoch) => {
    const parsed = parseProducerHeaders({ id: 'p', epoch, seq: '0' });
    expect(parsed.kind === 'invalid' && parsed.detail).toContain('Producer-Epoch must be a non-negative integer');
    expect(parsed.kind === 'invalid' && parsed.headers).toEqual([{ name: 'producer-epoch', message: 'is not a non-negative integer of at most 9007199254740991' }]);
  });

  it('takes integers up to 2^53-1 and refuses 2^53 (§5.2.1 "for JavaScript interoperability")', () => {
    expect(parseProducerHeaders({ id: 'p', epoch: '9007199254740991', seq: '9007199254740991' })).toEqual({
      kind: 'producer',
      claim: { id: 'p', epoch: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER },
    });
    expect(parseProducerHeaders({ id: 'p', epoch: '9007199254740992', seq: '0' }).kind).toBe('invalid');
    expect(parseProducerHeaders({ id: 'p', epoch: '0', seq: '9007199254740992' }).kind).toBe('invalid');
  });

  it('a zero-padded number is the number: the protocol asks for an integer, and "007" is an unambiguous one', () => {
    expect(parseProducerHeaders({ id: 'p', epoch: '01', seq: '007' })).toEqual({ kind: 'producer', claim: { id: 'p', epoch: 1, seq: 7 } });
  });

  it('quotes a refused value cut to a readable length', () => {
    const parsed = parseProducerHeaders({ id: 'p', epoch: '0', seq: 'x'.repeat(1000) });
    expect(parsed.kind === 'invalid' && parsed.detail).toMatch(/got "x{64}"\.\.\.$/);
  });
});

describe('decideProducerAppend on an open stream (§5.2.1 "Validation Logic")', () => {
  it('a new producer starting at seq 0 is accepted in any epoch (suite "should accept first append", "should reject stale epoch" sets up epoch 1)', () => {
    expect(decideProducerAppend(null, claim(0, 0), OPEN)).toEqual({ kind: 'accept', state: state(0, 0) });
    expect(decideProducerAppend(null, claim(1, 0), OPEN)).toEqual({ kind: 'accept', state: state(1, 0) });
  });

  it('a new producer not starting at 0 has a gap from 0 (as the reference server answers)', () => {
    expect(decideProducerAppend(null, claim(0, 3), OPEN)).toEqual({ kind: 'sequence-gap', expectedSeq: 0, receivedSeq: 3 });
    expect(decideProducerAppend(null, claim(2, 1), OPEN)).toEqual({ kind: 'sequence-gap', expectedSeq: 0, receivedSeq: 1 });
  });

  it('the next seq is accepted and becomes the state (suite "should accept sequential producer sequences")', () => {
    expect(decideProducerAppend(state(0, 0), claim(0, 1), OPEN)).toEqual({ kind: 'accept', state: state(0, 1) });
    expect(decideProducerAppend(state(3, 41), claim(3, 42), OPEN)).toEqual({ kind: 'accept', state: state(3, 42) });
  });

  it('a retried seq is a duplicate answering the highest accepted seq, not the request\'s (suite "duplicate response should return highest accepted seq")', () => {
    expect(decideProducerAppend(state(0, 2), claim(0, 1), OPEN)).toEqual({ kind: 'duplicate', epoch: 0, highestSeq: 2, closed: false });
    expect(decideProducerAppend(state(0, 2), claim(0, 2), OPEN)).toEqual({ kind: 'duplicate', epoch: 0, highestSeq: 2, closed: false });
    expect(decideProducerAppend(state(0, 0), claim(0, 0), OPEN)).toEqual({ kind: 'duplicate', epoch: 0, highestSeq: 0, closed: false });
  });

  it('a skipped seq is a gap naming the expected and the received seq (suite "should reject sequence gap with 409")', () => {
    expect(decideProducerAppend(state(0, 0), claim(0, 2), OPEN)).toEqual({ kind: 'sequence-gap', expectedSeq: 1, receivedSeq: 2 });
  });

  it('a higher epoch at seq 0 takes over (suite "should accept epoch upgrade", "split-brain fencing scenario")', () => {
    expect(decideProducerAppend(state(0, 1), claim(1, 0), OPEN)).toEqual({ kind: 'accept', state: state(1, 0) });
    expect(decideProducerAppend(state(5, 9), claim(6, 0), OPEN)).toEqual({ kind: 'accept', state: state(6, 0) });
  });

  it('a higher epoch not at seq 0 is a 400, not a gap (suite "should reject epoch increase with seq != 0")', () => {
    const decision = decideProducerAppend(state(0, 0), claim(1, 5), OPEN);
    expect(decision).toEqual({ kind: 'new-epoch-not-at-zero', epoch: 1, seq: 5 });
    expect(newEpochDetail({ epoch: 1, seq: 5 })).toBe('Producer-Epoch 1 is a new epoch, which starts at Producer-Seq 0; got 5');
  });

  it('a lower epoch is fenced with the current epoch (suite "should reject stale epoch with 403", "epoch rollback should be rejected")', () => {
    expect(decideProducerAppend(state(1, 0), claim(0, 1), OPEN)).toEqual({ kind: 'stale-epoch', currentEpoch: 1 });
    expect(decideProducerAppend(state(2, 0), claim(1, 0), OPEN)).toEqual({ kind: 'stale-epoch', currentEpoch: 2 });
    // Even the zombie's own duplicate: it must learn it was replaced.
    expect(decideProducerAppend(state(1, 0), claim(0, 0), OPEN)).toEqual({ kind: 'stale-epoch', currentEpoch: 1 });
  });

  it('walks the suite\'s "duplicate of seq=0 should not corrupt state" sequence', () => {
    let stored: ProducerState | null = null;
    const outcomes: string[] = [];
    for (const seq of [0, 0, 1]) {
      const decision = decideProducerAppend(stored, claim(0, seq), OPEN);
      outcomes.push(decision.kind);
      if (decision.kind === 'accept') stored = decision.state;
    }
    expect(outcomes).toEqual(['accept', 'duplicate', 'accept']);
    expect(stored).toEqual(state(0, 1));
  });
});

describe('decideProducerAppend on a closed stream (§5.2.1 "Stream Closure with Idempotent Producers")', () => {
  it('the closing request retried is a duplicate saying the stream is closed (suite "idempotent-close-duplicate-returns-204", "close-with-different-body-dedup")', () => {
    expect(decideProducerAppend(state(0, 0), claim(0, 0), closedBy(claim(0, 0)))).toEqual({
      kind: 'duplicate',
      epoch: 0,
      highestSeq: 0,
      closed: true,
    });
    expect(decideProducerAppend(state(2, 7), claim(2, 7), closedBy(claim(2, 7)))).toEqual({
      kind: 'duplicate',
      epoch: 2,
      highestSeq: 7,
      closed: true,
    });
  });

  it('another producer is refused as closed (suite "idempotent-close-different-tuple-returns-409")', () => {
    expect(decideProducerAppend(null, claim(0, 0, 'producer-B'), closedBy(claim(0, 0, 'producer-A')))).toEqual({ kind: 'closed' });
  });

  it('the closing producer with the next seq is refused as closed, not accepted (suite "idempotent-close-different-seq-returns-409")', () => {
    expect(decideProducerAppend(state(0, 0), claim(0, 1), closedBy(claim(0, 0)))).toEqual({ kind: 'closed' });
  });

  it('an earlier request of the closing producer is not the closing one: closed (the protocol dedupes only the closing tuple)', () => {
    expect(decideProducerAppend(state(0, 3), claim(0, 2), closedBy(claim(0, 3)))).toEqual({ kind: 'closed' });
    // Same seq, other epoch: not the closing tuple either.
    expect(decideProducerAppend(state(1, 0), claim(2, 0), closedBy(claim(1, 0)))).toEqual({ kind: 'closed' });
  });

  it('a stream closed without producer headers has no closing tuple to match', () => {
    expect(decideProducerAppend(state(0, 0), claim(0, 0), closedBy(null))).toEqual({ kind: 'closed' });
  });

  it('a stale epoch is fenced (403) before the stream is found closed (suite "producer-state-survives-close")', () => {
    expect(decideProducerAppend(state(1, 0), claim(0, 1), closedBy(claim(1, 0)))).toEqual({ kind: 'stale-epoch', currentEpoch: 1 });
  });

  it('closed comes before the seq rules: a gap or a bad new epoch on a closed stream reads as closed', () => {
    expect(decideProducerAppend(state(0, 0), claim(0, 5), closedBy(null))).toEqual({ kind: 'closed' });
    expect(decideProducerAppend(state(0, 0), claim(1, 5), closedBy(null))).toEqual({ kind: 'closed' });
    expect(decideProducerAppend(null, claim(0, 5), closedBy(null))).toEqual({ kind: 'closed' });
  });
});

describe('producerStatus and producerResponseHeaders (§5.2.1 "Response Codes", "Response Headers")', () => {
  const cases: [ProducerDecision, number, Record<string, string>][] = [
    [{ kind: 'accept', state: state(1, 4) }, 200, { 'producer-epoch': '1', 'producer-seq': '4' }],
    [{ kind: 'duplicate', epoch: 0, highestSeq: 2, closed: false }, 204, { 'producer-epoch': '0', 'producer-seq': '2' }],
    [{ kind: 'stale-epoch', currentEpoch: 3 }, 403, { 'producer-epoch': '3' }],
    [{ kind: 'new-epoch-not-at-zero', epoch: 1, seq: 5 }, 400, {}],
    [{ kind: 'sequence-gap', expectedSeq: 1, receivedSeq: 2 }, 409, { 'producer-expected-seq': '1', 'producer-received-seq': '2' }],
    [{ kind: 'closed' }, 409, {}],
  ];

  it.each(cases)('%j answers %i with its producer headers', (decision, status, headers) => {
    expect(producerStatus(decision, { closeOnly: false })).toBe(status);
    expect(producerResponseHeaders(decision)).toEqual(headers);
  });

  it('an accepted close-only request appended nothing: 204 (suite "idempotent-close-only-with-producer-headers")', () => {
    expect(producerStatus({ kind: 'accept', state: state(0, 1) }, { closeOnly: true })).toBe(204);
  });

  it('a duplicate is 204 with or without a body', () => {
    expect(producerStatus({ kind: 'duplicate', epoch: 0, highestSeq: 0, closed: true }, { closeOnly: true })).toBe(204);
  });
});
