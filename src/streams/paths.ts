import { InvalidStreamPath } from '../errors.js';

/*
 * A Durable Streams path (`/v1/stream/<path>`) names a session: its segments
 * joined by `:` instead of `/`, so `team-a/chat-1` is session `team-a:chat-1`
 * and a grant on `team-a:*` covers the whole folder. Only paths whose id maps
 * back to the same path are taken, so the mapping is one to one.
 */

/** Where the face's paths start: `/v1/stream/<path>`. */
export const STREAM_PREFIX = '/v1/stream/';

const SEGMENT = /^[A-Za-z0-9._-]+$/;
/** The longest session id (shapes.ts `SESSION_ID_PATTERN`). */
const MAX_ID_LENGTH = 128;
/** PROTOCOL.md §6: a first segment the protocol keeps for its control APIs. */
const RESERVED_SEGMENT = '__ds';

/**
 * A path is read as sent: an escape is never decoded, so `a%2Fb` is not
 * another spelling of `a/b`. Checked first, so that a malformed escape, which
 * the router refuses before any route runs, and a well-formed one are refused
 * alike (`undecodableStreamPath`).
 */
const ESCAPE_RULE = 'has a %: a stream path is letters, digits, . _ - and / as they are, never %-escaped';

/** The session id a stream path names; 400 `invalid_stream_path` naming the rule it breaks. */
export function sessionIdOf(path: string): string {
  if (path.includes('%')) throw new InvalidStreamPath(path, ESCAPE_RULE);
  const segments = path.split('/');
  if (segments[0] === RESERVED_SEGMENT) throw new InvalidStreamPath(path, `starts with ${RESERVED_SEGMENT}/, which the protocol reserves`);
  for (const segment of segments) {
    if (segment === '') throw new InvalidStreamPath(path, 'has an empty segment (a path is segments joined by single /, none at either end)');
    if (segment === '.' || segment === '..') throw new InvalidStreamPath(path, 'has a . or .. segment');
    if (!SEGMENT.test(segment)) {
      throw new InvalidStreamPath(path, 'has a character outside letters, digits, . _ - (and / between segments)');
    }
  }
  if (!/^[A-Za-z0-9]/.test(path)) throw new InvalidStreamPath(path, 'must start with a letter or a digit');
  const id = segments.join(':');
  if (id.length > MAX_ID_LENGTH) throw new InvalidStreamPath(path, `is longer than ${MAX_ID_LENGTH} characters`);
  return id;
}

/**
 * The refusal of a stream path with a %-escape the router cannot decode (`%zz`,
 * a cut UTF-8 sequence): answered before any route runs, as the face refuses
 * every `%`.
 */
export function undecodableStreamPath(path: string): InvalidStreamPath {
  return new InvalidStreamPath(path, ESCAPE_RULE);
}
