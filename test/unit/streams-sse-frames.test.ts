import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { describe, expect, it } from 'vitest';
import {
  base64DataFrame,
  controlFrame,
  dataLines,
  jsonDataFrame,
  sseDataEncodingFor,
  textDataFrame,
} from '../../src/streams/sse-frames.js';

/** What an SSE client (the parser the official client's fetch-event-source and our own use) reads from the wire. */
function parse(wire: string): { event: string | undefined; data: string }[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  parser.feed(wire);
  return events.map(({ event, data }) => ({ event, data }));
}

describe('sseDataEncodingFor (PROTOCOL §5.8, §9 "SSE Encoding")', () => {
  // A Content-Type may have whitespace before its parameters (RFC 9110 §5.6.6): `application/json ; charset=utf-8` is JSON.
  it.each(['text/plain', 'text/html', 'TEXT/PLAIN', 'text/plain; charset=utf-8', 'application/json', 'Application/JSON; charset=utf-8', 'application/json ; charset=utf-8'])(
    '%s travels as text (suite "should NOT include Stream-SSE-Data-Encoding header for text/plain / application/json")',
    (contentType) => expect(sseDataEncodingFor(contentType)).toBe('text'),
  );

  it.each(['application/octet-stream', 'application/x-protobuf', 'image/png', 'application/ndjson', 'application/vnd.api+json', 'application/jsonl', 'texts/plain'])(
    '%s travels as base64 (suite "should auto-detect base64 encoding for ... streams")',
    (contentType) => expect(sseDataEncodingFor(contentType)).toBe('base64'),
  );
});

describe('dataLines: a payload can never break the framing (suite "should prevent CRLF injection")', () => {
  it('one line per LF, CR and CRLF, without a space after the colon (suite "should handle newlines in text/plain payloads")', () => {
    expect(dataLines('line1\nline2\nline3')).toBe('data:line1\ndata:line2\ndata:line3\n');
    expect(dataLines('a\r\nb\rc')).toBe('data:a\ndata:b\ndata:c\n');
  });

  it('an empty payload is one empty data line (so the event still carries data "")', () => {
    expect(dataLines('')).toBe('data:\n');
  });

  it('a line starting with a space keeps it: the client strips exactly one', () => {
    expect(dataLines(' x\n  y')).toBe('data:  x\ndata:   y\n');
    expect(parse(`event: data\n${dataLines(' x\n  y')}\n`)).toEqual([{ event: 'data', data: ' x\n  y' }]);
  });
});

describe('textDataFrame', () => {
  it('is an "event: data" frame that reads back as the text', () => {
    expect(textDataFrame('hello')).toBe('event: data\ndata:hello\n\n');
    expect(parse(textDataFrame('hello'))).toEqual([{ event: 'data', data: 'hello' }]);
  });

  it.each([
    ['CRLF', 'safe content\r\n\r\nevent: control\r\ndata: {"injected":true}\r\n\r\nmore safe content'],
    ['LF', 'start\n\nevent: data\ndata: fake-event\n\nend'],
    ['CR', 'start\r\revent: control\rdata: {"cr_injected":true}\r\rend'],
  ])('an embedded %s event boundary stays inside the one data event, as literal text', (_, payload) => {
    const events = parse(textDataFrame(payload) + controlFrame({ nextOffset: 'o1', cursor: '7', upToDate: true }));
    expect(events.map((event) => event.event)).toEqual(['data', 'control']);
    expect(events[0]!.data).toBe(payload.replace(/\r\n|\r/g, '\n'));
    expect(JSON.parse(events[1]!.data)).toEqual({ streamNextOffset: 'o1', streamCursor: '7', upToDate: true });
  });

  it('text ending with a newline keeps it', () => {
    expect(parse(textDataFrame('abc\n'))).toEqual([{ event: 'data', data: 'abc\n' }]);
  });

  it('non-ASCII text passes as is', () => {
    expect(parse(textDataFrame('héllo \u{1F600}'))).toEqual([{ event: 'data', data: 'héllo \u{1F600}' }]);
  });
});

describe('jsonDataFrame (PROTOCOL §5.8, §9.1)', () => {
  it('wraps the messages in one array that parses on its own (suite "should wrap JSON data in arrays for SSE")', () => {
    const frame = jsonDataFrame(['{"n":1}', '{"n":2}', '[1,2]', '"s"']);
    expect(frame).toBe('event: data\ndata:[{"n":1},{"n":2},[1,2],"s"]\n\n');
    expect(JSON.parse(parse(frame)[0]!.data)).toEqual([{ n: 1 }, { n: 2 }, [1, 2], 's']);
  });

  it('an empty batch is an empty array', () => {
    expect(parse(jsonDataFrame([]))).toEqual([{ event: 'data', data: '[]' }]);
  });

  it('JSON text holding escaped CR/LF and event-like strings stays one event (suite "should handle JSON payloads with embedded newlines safely")', () => {
    const message = JSON.stringify({ message: 'line1\nline2', attack: 'try\r\n\r\nevent: control\r\ndata: {"bad":true}' });
    const events = parse(jsonDataFrame([message]));
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]!.data)).toEqual([JSON.parse(message)]);
  });

  it('JSON text with raw line breaks between tokens still parses (they are whitespace)', () => {
    expect(JSON.parse(parse(jsonDataFrame(['{\r\n"a":\n1\r}']))[0]!.data)).toEqual([{ a: 1 }]);
  });
});

describe('base64DataFrame (PROTOCOL §5.8 binary streams)', () => {
  it('"Hello" is SGVsbG8= (suite "should auto-detect binary streams and return base64 encoded data")', () => {
    expect(base64DataFrame(Buffer.from('Hello'))).toBe('event: data\ndata:SGVsbG8=\n\n');
  });

  it('an empty payload is the empty string (suite "should handle empty binary payload")', () => {
    expect(parse(base64DataFrame(new Uint8Array(0)))).toEqual([{ event: 'data', data: '' }]);
  });

  it('every byte value round-trips, including CR and LF bytes (suite "special bytes")', () => {
    const bytes = new Uint8Array(256).map((_, i) => i);
    const data = parse(base64DataFrame(bytes))[0]!.data;
    expect(data.length % 4).toBe(0);
    expect(new Uint8Array(Buffer.from(data, 'base64'))).toEqual(bytes);
  });

  it('encodes only the view it is given, not the buffer around it', () => {
    const pooled = Buffer.from('xxHelloyy').subarray(2, 7);
    expect(parse(base64DataFrame(pooled))[0]!.data).toBe('SGVsbG8=');
  });
});

describe('controlFrame (PROTOCOL §5.8 control events)', () => {
  it('while open: offset and cursor, and upToDate only when caught up', () => {
    expect(controlFrame({ nextOffset: 'o1', cursor: '42', upToDate: false })).toBe(
      'event: control\ndata:{"streamNextOffset":"o1","streamCursor":"42"}\n\n',
    );
    expect(JSON.parse(parse(controlFrame({ nextOffset: 'o2', cursor: '43', upToDate: true }))[0]!.data)).toEqual({
      streamNextOffset: 'o2',
      streamCursor: '43',
      upToDate: true,
    });
  });

  it('matches the suite\'s own control regex (suite "should generate streamCursor in SSE control events")', () => {
    const match = controlFrame({ nextOffset: 'o1', cursor: '42', upToDate: true }).match(/event: control\s*\ndata:({[^}]+})/);
    expect(JSON.parse(match![1]!)).toMatchObject({ streamCursor: '42' });
  });

  it('at the end of a closed stream: closed and up to date, no cursor (clients never reconnect after it)', () => {
    expect(JSON.parse(parse(controlFrame({ nextOffset: 'o9', closed: true }))[0]!.data)).toEqual({
      streamNextOffset: 'o9',
      upToDate: true,
      streamClosed: true,
    });
  });
});
