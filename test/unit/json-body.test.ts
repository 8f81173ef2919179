import { describe, expect, it } from 'vitest';
import { InvalidRequest } from '../../src/errors.js';
import { parseJsonBody, pointerOf } from '../../src/http/json-body.js';

/**
 * What a person sending JSON by hand reads when the body is refused: each
 * kind of malformed text named in words, where it is (line, column, and the
 * path reached), as the detail and as the one entry of `errors[]`. The HTTP
 * tests (test/http/json-bodies.test.ts) show the refusal reaches the client
 * and changes nothing; these pin the words and positions of each kind.
 */
function refusal(text: string | Buffer, maxDepth = 8): { detail: string; errors: unknown } {
  try {
    parseJsonBody(typeof text === 'string' ? Buffer.from(text) : text, maxDepth);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequest);
    const refused = error as InvalidRequest;
    return { detail: refused.message, errors: refused.extra.errors };
  }
  throw new Error(`accepted: ${String(text)}`);
}

describe('parseJsonBody refuses malformed JSON in words, with where', () => {
  it.each([
    ['a string not closed', '{"a":"b', 'body is not valid JSON: a string is not closed at line 1, column 8 (in /a)', '/a', 'a string is not closed'],
    [
      'a raw control character in a string',
      '{"a":"b\tc"}',
      'body is not valid JSON: a control character inside a string (escape it, e.g. \\n) at line 1, column 8 (in /a)',
      '/a',
      'a control character inside a string (escape it, e.g. \\n)',
    ],
    ['a \\u escape short of four hex digits', '["\\u12g4"]', 'body is not valid JSON: a \\u escape needs four hex digits at line 1, column 3 (in /0)', '/0', 'a \\u escape needs four hex digits'],
    ['an error after a \\u escape that ends its string (the scanner steps over all six characters)', '["\\u00e9" x]', 'body is not valid JSON: expected "," or "]", found "x" at line 1, column 11 (in /0)', '/0', 'expected "," or "]", found "x"'],
    ['a syntax error after an integer past 2^53 (the syntax error is what is named)', '{"a":9007199254740993,"b":}', 'body is not valid JSON: expected a value, found "}" at line 1, column 27 (in /b)', '/b', 'expected a value, found "}"'],
    ['an escape JSON has not', '["a\\x"]', 'body is not valid JSON: "\\x" is not a JSON escape at line 1, column 4 (in /0)', '/0', '"\\x" is not a JSON escape'],
    ['a backslash at the very end', '["a\\', 'body is not valid JSON: "\\" is not a JSON escape at line 1, column 4 (in /0)', '/0', '"\\" is not a JSON escape'],
    ['a member name without quotes', '{a:1}', 'body is not valid JSON: expected a member name in double quotes, found "a" at line 1, column 2', '', 'expected a member name in double quotes, found "a"'],
    ['a member without its colon', '{"a" 1}', 'body is not valid JSON: expected ":" after a member name, found "1" at line 1, column 6 (in /a)', '/a', 'expected ":" after a member name, found "1"'],
    ['a second member without its colon', '{"a":1,\n "b"}', 'body is not valid JSON: expected ":" after a member name, found "}" at line 2, column 5 (in /b)', '/b', 'expected ":" after a member name, found "}"'],
    ['a number with no digits', '[1, -]', 'body is not valid JSON: a malformed number at line 1, column 5 (in /1)', '/1', 'a malformed number'],
    ['a word that is no value', '{"a":nul}', 'body is not valid JSON: expected a value, found "n" at line 1, column 6 (in /a)', '/a', 'expected a value, found "n"'],
    ['text after the value', '{"a":1} x', 'body is not valid JSON: unexpected "x" after the JSON value at line 1, column 9', '', 'unexpected "x" after the JSON value'],
    ['an array not closed', '[true, false, null', 'body is not valid JSON: expected "," or "]", found the end of the body at line 1, column 19 (in /2)', '/2', 'expected "," or "]", found the end of the body'],
    ['an object not closed, deep in a line', '{"a":[{"b":1}\n,{"c":2}]', 'body is not valid JSON: expected "," or "}", found the end of the body at line 2, column 10 (in /a)', '/a', 'expected "," or "}", found the end of the body'],
  ])('%s', (_what, text, detail, field, message) => {
    expect(refusal(text)).toEqual({ detail, errors: [{ in: 'body', field, message }] });
  });

  it('accepts what JSON allows around the same characters: every escape, whitespace of all four kinds, empty containers', () => {
    expect(parseJsonBody(Buffer.from(' \t\r\n{"a":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9","b":[],"c":{},"d":[true,false,null,-0.5e+3]}\n'), 8)).toEqual({
      a: '"\\/\b\f\n\r\té',
      b: [],
      c: {},
      d: [true, false, null, -500],
    });
  });
});

describe('parseJsonBody refuses what Postgres or JavaScript cannot keep, naming the path', () => {
  it('an empty body says so', () => {
    expect(refusal('').detail).toBe('body is empty but Content-Type is application/json; send a JSON object');
  });

  it('bytes that are not UTF-8 name the first bad byte', () => {
    const bytes = Buffer.concat([Buffer.from('{"a":"é'), Buffer.from([0xff]), Buffer.from('"}')]);
    expect(refusal(bytes)).toEqual({
      detail: 'body is not valid UTF-8 (at byte 8); send JSON as UTF-8',
      errors: [{ in: 'body', field: '', message: 'not valid UTF-8 (at byte 8); send JSON as UTF-8' }],
    });
  });

  it('U+0000 and a lone surrogate, in a value or a key', () => {
    expect(refusal('{"a":["ok","x\\u0000"]}').detail).toBe('body at /a/1: a string holds U+0000, which Postgres cannot store');
    expect(refusal('{"k\\ud800":1}').detail).toBe(
      'body at /k\ud800: a key holds a lone UTF-16 surrogate (\\ud800), which is not a Unicode character and cannot be stored unchanged',
    );
    expect(refusal('"\\udc00"').detail).toBe('body: a string holds a lone UTF-16 surrogate (\\udc00), which is not a Unicode character and cannot be stored unchanged');
    // A pair is one character.
    expect(parseJsonBody(Buffer.from('"\\ud83d\\ude00"'), 8)).toBe('😀');
  });

  it('a number past a double, and an integer literal past 2^53, where it is', () => {
    expect(refusal('{"a":[1e400]}').detail).toBe('body at /a/0: a number too large for a double (it would overflow to Infinity)');
    expect(refusal('{"a":{"b":[1, 9007199254740993]}}')).toEqual({
      detail: 'body at /a/b/1: the integer 9007199254740993 is beyond ±(2^53-1) and would lose precision; send it as a string',
      errors: [{ in: 'body', field: '/a/b/1', message: 'the integer 9007199254740993 is beyond ±(2^53-1) and would lose precision; send it as a string' }],
    });
    expect(refusal('-9007199254740992').detail).toMatch(/^body: the integer -9007199254740992 is beyond/);
    // The largest safe integer, and large numbers written with a fraction or an exponent (doubles, as sent), are kept.
    expect(parseJsonBody(Buffer.from('[9007199254740991, -9007199254740991, 9007199254740993.0, 1e20]'), 8)).toEqual([
      9007199254740991, -9007199254740991, 9007199254740992, 1e20,
    ]);
  });

  it('nesting: exactly the limit is kept, one level more names where it starts', () => {
    expect(parseJsonBody(Buffer.from('{"a":[[1]]}'), 3)).toEqual({ a: [[1]] });
    expect(refusal('{"a":[[[1]]]}', 3).detail).toBe('body at /a/0/0: nested deeper than 3 levels (MAX_JSON_DEPTH)');
    expect(refusal('[[]]', 1).detail).toBe('body at /0: nested deeper than 1 levels (MAX_JSON_DEPTH)');
  });
});

describe('pointerOf', () => {
  it('escapes "~" and "/" in member names as JSON Pointer does (RFC 6901)', () => {
    expect(pointerOf(['a/b', 'c~d', 0, ''])).toBe('/a~1b/c~0d/0/');
    expect(pointerOf([])).toBe('');
  });
});
