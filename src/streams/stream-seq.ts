/**
 * `Stream-Seq` (PROTOCOL §5.2, §12.6): an opaque writer sequence the server
 * only orders. Values compare byte-wise (UTF-8), each append's must be
 * strictly greater than the stream's last, and an equal or smaller one is a
 * 409. The scope is the stream (one last value per stream, whoever writes;
 * §5.2 asks the server to document it). A fork starts with none (§4.2).
 */

/**
 * Orders two strings by their UTF-8 bytes. JavaScript's `<` compares UTF-16
 * code units, which disagrees with byte order once a character beyond U+FFFF
 * (a surrogate pair, 0xD800..) meets one in U+E000..U+FFFF: as bytes the
 * astral one (F0..) is greater, as code units smaller. Postgres's
 * `collate "C"` on a UTF-8 database orders as this does.
 */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Whether `incoming` may follow the stream's last accepted Stream-Seq (null:
 * none yet). The route checks it only for an append that will happen (after
 * the closed check and after producer deduplication: suite "producer duplicate
 * should return 204 even with Stream-Seq header"), and stores `incoming` with it.
 */
export function checkStreamSeq(last: string | null, incoming: string): 'ok' | 'regression' {
  return last === null || compareUtf8(incoming, last) > 0 ? 'ok' : 'regression';
}
