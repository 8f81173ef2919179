import { parseDecimal, quoteHeaderValue } from './header-values.js';

/**
 * Forks (PROTOCOL §4.2, §8 "Sub-offset addressing"): a PUT with
 * `Stream-Forked-From` creates a stream holding the source's data up to
 * `Stream-Fork-Offset` (default: the source's tail), then, with
 * `Stream-Fork-Sub-Offset: k`, k more units of what follows it: k messages
 * of a JSON stream, k bytes of any other. The offset itself is parsed where
 * offsets are (offsets.ts) and the source path where paths are (paths.ts);
 * here: which headers go together, the sub-offset, and what the fork must
 * materialise for it.
 */

export interface RawForkHeaders {
  forkedFrom: string | undefined;
  offset: string | undefined;
  subOffset: string | undefined;
}

export type ForkRequest =
  | { kind: 'none' }
  /**
   * `source`: the source's path as sent; `offset`: the fork offset as sent,
   * null for the source's tail; `subOffset`: 0 when absent, which is the same
   * fork (§4.2 "A request with sub-offset 0 is equivalent to a request with the
   * header omitted"), so a re-PUT compares equal either way.
   */
  | { kind: 'fork'; source: string; offset: string | null; subOffset: number }
  /** 400: `detail` names the header and the rule. */
  | { kind: 'invalid'; detail: string };

/**
 * The fork headers of a PUT. The offset and the sub-offset refine a fork and
 * mean nothing without its source: sent alone (even "0") they are refused
 * rather than ignored (§5.1 "requires Stream-Forked-From"; suite "should
 * return 400 when Stream-Fork-Sub-Offset is supplied without
 * Stream-Forked-From (even when value is 0)"). The sub-offset is a
 * non-negative integer without sign or leading zero (suite "should return
 * 400 for malformed sub-offset values": -1, abc, 1.5, 05, +1).
 */
export function parseForkHeaders(raw: RawForkHeaders): ForkRequest {
  if (raw.forkedFrom === undefined) {
    if (raw.offset !== undefined) return { kind: 'invalid', detail: 'Stream-Fork-Offset is for a fork: send it with Stream-Forked-From' };
    if (raw.subOffset !== undefined) return { kind: 'invalid', detail: 'Stream-Fork-Sub-Offset is for a fork: send it with Stream-Forked-From' };
    return { kind: 'none' };
  }
  if (raw.forkedFrom === '') return { kind: 'invalid', detail: "Stream-Forked-From is empty; it names the source stream's path" };
  let subOffset = 0;
  if (raw.subOffset !== undefined) {
    const parsed = parseDecimal(raw.subOffset, Number.MAX_SAFE_INTEGER, false);
    if (parsed === undefined) {
      return {
        kind: 'invalid',
        detail:
          'Stream-Fork-Sub-Offset must be a non-negative integer in decimal digits, without sign or leading zero ' +
          `(messages of a JSON stream, bytes of any other); got ${quoteHeaderValue(raw.subOffset)}`,
      };
    }
    subOffset = parsed;
  }
  return { kind: 'fork', source: raw.forkedFrom, offset: raw.offset ?? null, subOffset };
}

export type JsonForkPrefix<Message> = { kind: 'prefix'; messages: Message[] } | { kind: 'overshoot'; detail: string };

/**
 * What a JSON fork takes past its anchor for sub-offset `subOffset`: the
 * first that many messages of `after` (the source's messages after the fork
 * offset, in order; each flattened message is one). Only as many as needed
 * are read, so `after` may be a lazy iterable. Asking for more than there are
 * is an overshoot (400, §4.2 "Sub-offset overshoot"); `subOffset` may equal
 * the count (suite "should accept JSON sub-offset equal to flattened message count").
 */
export function jsonForkPrefix<Message>(after: Iterable<Message>, subOffset: number): JsonForkPrefix<Message> {
  const messages: Message[] = [];
  if (subOffset > 0) {
    for (const message of after) {
      messages.push(message);
      if (messages.length === subOffset) break;
    }
  }
  if (messages.length < subOffset) {
    return { kind: 'overshoot', detail: overshoot(subOffset, messages.length, 'message') };
  }
  return { kind: 'prefix', messages };
}

export type BytesForkPrefix =
  /**
   * `bytes`: everything the fork takes past its anchor. The same split in
   * store terms: `wholeChunks` chunks of `after` are taken whole (a store can
   * copy those rows as they are, same seqs), then `partialChunk`, the head of
   * the next chunk, when the cut falls inside one (null when on a boundary).
   */
  | { kind: 'prefix'; bytes: Buffer; wholeChunks: number; partialChunk: Buffer | null }
  | { kind: 'overshoot'; detail: string };

/**
 * What a byte fork takes past its anchor for sub-offset `subOffset`: the
 * first that many bytes of `after` (the source's appended chunks after the
 * fork offset, in order), cutting a chunk ("hel" of "hello", suite "should
 * fork at a binary sub-offset within an append") or spanning several. A cut
 * spanning chunks goes past the protocol's "next data boundary"; it is taken
 * here because this server's boundaries are per event, and a JSON sub-offset
 * must span events (each flattened message is one), so bytes do alike.
 * Chunks are read only until the cut, so `after` may be lazy.
 */
export function bytesForkPrefix(after: Iterable<Uint8Array>, subOffset: number): BytesForkPrefix {
  const taken: Uint8Array[] = [];
  let length = 0;
  let wholeChunks = 0;
  let partialChunk: Buffer | null = null;
  if (subOffset > 0) {
    for (const chunk of after) {
      const wanted = subOffset - length;
      if (chunk.byteLength <= wanted) {
        taken.push(chunk);
        length += chunk.byteLength;
        wholeChunks += 1;
      } else {
        // A copy: the fork's event must not hold a view into the source's (pooled, reused) buffer.
        partialChunk = Buffer.from(chunk.subarray(0, wanted));
        taken.push(partialChunk);
        length += wanted;
      }
      if (length === subOffset) break;
    }
  }
  if (length < subOffset) return { kind: 'overshoot', detail: overshoot(subOffset, length, 'byte') };
  return { kind: 'prefix', bytes: Buffer.concat(taken, length), wholeChunks, partialChunk };
}

function overshoot(subOffset: number, available: number, unit: string): string {
  const follow = available === 1 ? `1 ${unit} follows` : `${available} ${unit}s follow`;
  return `Stream-Fork-Sub-Offset ${subOffset} is past the data after the fork offset: ${follow} it`;
}
