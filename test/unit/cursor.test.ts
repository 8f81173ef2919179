import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/http/cursor.js';
import { InvalidRequest } from '../../src/errors.js';

describe('listing cursors', () => {
  it('come back as the parts they were made of, to the listing that made them', () => {
    expect(decodeCursor('s', encodeCursor('s', 42), /^(\d{1,16})$/)).toEqual(['42']);
    expect(decodeCursor('m', encodeCursor('m', 'desc', 7), /^desc:(\d{1,16})$/)).toEqual(['7']);
  });

  it('are safe in a URL as they are (letters, digits, - and _): appended unescaped to ?cursor=, they come back whole', () => {
    for (const tag of ['s', 'm', 'att', 'qq']) {
      for (let n = 0; n < 300; n++) {
        const cursor = encodeCursor(tag, 'desc', n * 7919);
        expect(cursor, `${tag} ${n}`).toMatch(/^[A-Za-z0-9_-]+$/);
        const read = new URL(`http://server.test/v1/sessions?cursor=${cursor}`).searchParams.get('cursor') as string;
        expect(decodeCursor(tag, read, /^desc:(\d{1,16})$/)).toEqual([String(n * 7919)]);
      }
    }
  });

  it('are refused (400 naming cursor) when another listing made them, when their parts do not fit, or when they are not cursors', () => {
    const refused = (tag: string, cursor: string, shape: RegExp) => {
      try {
        decodeCursor(tag, cursor, shape);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidRequest);
        expect((error as InvalidRequest).extra.errors).toEqual([{ in: 'querystring', field: '/cursor', message: 'is not a valid cursor' }]);
        return true;
      }
      return false;
    };
    const digits = /^(\d{1,16})$/;
    expect(refused('att', encodeCursor('s', 5), digits)).toBe(true);
    // A tag that begins another's is still another's.
    expect(refused('q', encodeCursor('qq', 5), digits)).toBe(true);
    expect(refused('m', encodeCursor('m', 'asc', 5), /^desc:(\d{1,16})$/)).toBe(true);
    expect(refused('s', encodeCursor('s', 'x'), digits)).toBe(true);
    expect(refused('s', 'not-a-cursor', digits)).toBe(true);
    expect(refused('s', '', digits)).toBe(true);
    expect(refused('s', encodeCursor('s', 5), digits)).toBe(false);
  });
});
