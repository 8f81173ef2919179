import { InvalidRequest } from '../errors.js';

/** Opaque keyset cursors: `tag:parts` in base64url, so clients pass them back rather than build them. */
export function encodeCursor(tag: string, ...parts: (string | number)[]): string {
  return Buffer.from([tag, ...parts].join(':')).toString('base64url');
}

/** The parts of a cursor made by `encodeCursor(tag, …)` whose text matches `shape`; 400 otherwise. */
export function decodeCursor(tag: string, cursor: string, shape: RegExp): string[] {
  const text = Buffer.from(cursor, 'base64url').toString();
  const match = text.startsWith(`${tag}:`) ? shape.exec(text.slice(tag.length + 1)) : null;
  if (!match) {
    throw new InvalidRequest('cursor is not one this listing gave out; pass next_cursor unchanged, with the same filters and order', [
      { in: 'querystring', field: '/cursor', message: 'is not a valid cursor' },
    ]);
  }
  return match.slice(1);
}
