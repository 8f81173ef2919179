import { DS_SSE_CONTROL, DS_SSE_EVENT } from 'session-sync/client/protocol';
import { contentTypeKey } from './messages.js';

/**
 * The Durable Streams SSE wire (PROTOCOL §5.8): `event: data` frames carrying
 * a batch of the stream's content, each followed by an `event: control` frame
 * with the offset to resume from. Frames are strings for the caller to write
 * (built once per batch, shared by every subscriber).
 */

export type SseDataEncoding = 'text' | 'base64';

/**
 * How a stream's data events travel: `text/*` and `application/json` as
 * UTF-8 text, anything else base64 with the `stream-sse-data-encoding: base64`
 * response header (§5.8, §9). Exactly those: `application/ndjson` or a
 * `+json` type is base64 too, as the protocol says; a byte stream of such a
 * type is not checked to be UTF-8, and base64 carries any bytes exactly,
 * while a client that sees the header decodes either way.
 */
export function sseDataEncodingFor(contentType: string): SseDataEncoding {
  const mediaType = contentTypeKey(contentType);
  return mediaType.startsWith('text/') || mediaType === 'application/json' ? 'text' : 'base64';
}

/**
 * `data:` lines for a payload. Every CR, LF and CRLF in it starts a new line,
 * so a payload can never end the event or start another (suite "should
 * prevent CRLF injection"); the client joins the lines with LF, so a CR or
 * CRLF in text reads back as LF, which SSE cannot carry otherwise. A line
 * starting with a space gets one more: the client strips one space after
 * `data:`, and the payload's own must survive. Otherwise no space, so the
 * wire reads `data:line1` (suite "should handle newlines in text/plain payloads").
 */
export function dataLines(payload: string): string {
  return payload
    .split(/\r\n|\r|\n/)
    .map((line) => (line.startsWith(' ') ? `data: ${line}\n` : `data:${line}\n`))
    .join('');
}

const frame = (event: string, payload: string) => `event: ${event}\n${dataLines(payload)}\n`;

/** A data event of a `text/*` stream: its bytes decoded as UTF-8 by the caller. */
export function textDataFrame(text: string): string {
  return frame(DS_SSE_EVENT.data, text);
}

/**
 * A data event of a JSON stream: the messages (each one compact JSON text) as
 * one JSON array, so each data event parses on its own (suite "JSON SSE
 * catch-up pairs every data event with a control event").
 */
export function jsonDataFrame(messages: readonly string[]): string {
  return frame(DS_SSE_EVENT.data, `[${messages.join(',')}]`);
}

/**
 * A data event of a binary stream: the batch's bytes as one standard base64
 * text (RFC 4648, padded), on one line; an empty batch is the empty string
 * (§5.8). One encoding per event, never per chunk joined: two padded texts
 * concatenated do not decode (suite "base64 SSE catch-up pairs every data event").
 */
export function base64DataFrame(bytes: Uint8Array): string {
  return frame(DS_SSE_EVENT.data, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'));
}

/**
 * What a control event says. While more can come (the stream is open, or
 * closed with data still to send) it carries the cursor to echo (§5.8 "MUST
 * include streamCursor when the stream is open") and whether the reader is
 * caught up. At the final offset of a closed stream it says so and carries no
 * cursor (nobody reconnects after it); `upToDate` is sent too, which §5.8
 * requires when a closed stream is found at its tail on connect and permits
 * otherwise. The server closes the connection after that frame.
 */
export type SseControl = { nextOffset: string; cursor: string; upToDate: boolean } | { nextOffset: string; closed: true };

export function controlFrame(control: SseControl): string {
  const body: Record<string, string | boolean> = { [DS_SSE_CONTROL.nextOffset]: control.nextOffset };
  if ('closed' in control) {
    body[DS_SSE_CONTROL.upToDate] = true;
    body[DS_SSE_CONTROL.closed] = true;
  } else {
    body[DS_SSE_CONTROL.cursor] = control.cursor;
    if (control.upToDate) body[DS_SSE_CONTROL.upToDate] = true;
  }
  return frame(DS_SSE_EVENT.control, JSON.stringify(body));
}
