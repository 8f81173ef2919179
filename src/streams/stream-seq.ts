/**
 * `Stream-Seq` (PROTOCOL §5.2, §12.6): an opaque writer sequence the server
 * only orders; this module is the one place that orders it. Values compare
 * byte-wise, each append's must be strictly greater than the stream's last,
 * and an equal or smaller one is a 409. The scope is the stream (one last
 * value per stream, whoever writes; §5.2 asks the server to document it). A
 * fork starts with none (§4.2).
 */

/**
 * Orders two header values by the bytes that came on the wire. Node decodes a
 * header's bytes as Latin-1 (one character per byte), so encoding the string
 * back as Latin-1 gives exactly those bytes; UTF-8 would turn every byte from
 * 0x80 up into two and could reorder them. JavaScript's `<` would do for
 * Latin-1 strings, but the comparison is spelled as bytes, as the protocol
 * says it. The stored value is the same Latin-1 string, so both sides agree.
 */
export function compareWireBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'));
}

/**
 * Whether `incoming` may follow the stream's last accepted Stream-Seq (null:
 * none yet). The store checks it only for an append that will happen (after
 * the closed check and after producer deduplication: suite "producer duplicate
 * should return 204 even with Stream-Seq header"), and stores `incoming` with it.
 */
export function checkStreamSeq(last: string | null, incoming: string): 'ok' | 'regression' {
  return last === null || compareWireBytes(incoming, last) > 0 ? 'ok' : 'regression';
}
