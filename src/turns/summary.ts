import { PayloadTooLarge } from '../errors.js';
import type { TurnInput } from './input.js';

/** What the summary needs beyond the turn itself: known only once the session is locked and the turn applied. */
export interface TurnHead {
  version: number;
  firstSeq: number;
  messageIds: string[];
}

/** The data of a turn's `turn.committed` event. */
export function turnSummaryJson(input: TurnInput, head: TurnHead): string {
  return JSON.stringify({
    turn_id: input.turn_id,
    version: head.version,
    first_seq: head.firstSeq,
    state_changed: input.state !== undefined,
    events: input.events.length,
    message_ids: head.messageIds,
    completed_claims: input.complete_claims,
    attachments: input.attachments,
    usage: input.usage,
    lease_released: input.release_lease,
  });
}

/** A message id as the server makes them (a UUID's text form). */
const WIDEST_MESSAGE_ID = '00000000-0000-7000-8000-000000000000';

/**
 * Refuses a turn whose `turn.committed` event could pass MAX_EVENT_BYTES,
 * before the session is locked: the summary as it will be stored, with what
 * only the commit knows (version, first seq, message ids) at its widest, so
 * the stored one is never larger.
 */
export function checkTurnSummaryFits(input: TurnInput, maxEventBytes: number): void {
  const widest = turnSummaryJson(input, {
    version: Number.MAX_SAFE_INTEGER,
    firstSeq: Number.MAX_SAFE_INTEGER,
    messageIds: input.messages.map(() => WIDEST_MESSAGE_ID),
  });
  const bytes = Buffer.byteLength(widest);
  if (bytes > maxEventBytes) {
    throw new PayloadTooLarge(
      `this turn's turn.committed event, which lists its message ids, claims, attachments and usage, would be up to ${bytes} bytes; ` +
        `an event may hold ${maxEventBytes} (MAX_EVENT_BYTES): split the work over several turns`,
      { limit_bytes: maxEventBytes, size: bytes },
    );
  }
}
