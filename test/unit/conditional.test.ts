import { describe, expect, it } from 'vitest';
import { ifNoneMatchHits } from '../../src/http/conditional.js';

// If-None-Match as RFC 9110 13.1.2 reads it, for every route that answers 304 (state, attachments, Durable Streams
// pages): `*`, or a list of entity tags, each compared weakly.
describe('If-None-Match', () => {
  const etag = '"v7"';
  it('hits on the tag, weak or strong, alone or anywhere in a list, with or without spaces; and on *', () => {
    for (const header of ['"v7"', 'W/"v7"', '"a", "v7"', '"a","v7"', '"a" , W/"v7" , "b"', '*']) {
      expect(ifNoneMatchHits(header, etag), header).toBe(true);
    }
  });
  it('misses on other tags, on none, and on a tag that only contains this one', () => {
    for (const header of [undefined, '', '"v8"', '"a", "b"', '"v7x"', 'v7', 'W/"v70"']) {
      expect(ifNoneMatchHits(header, etag), String(header)).toBe(false);
    }
  });
});
