import { InvalidStreamPath } from '../errors.js';

/*
 * A Durable Streams path (`/v1/stream/<path>`) names a session: its segments
 * joined by `:` instead of `/`, so `team-a/chat-1` is session `team-a:chat-1`
 * and a grant on `team-a:*` covers the whole folder. Only paths whose id maps
 * back to the same path are taken, so the mapping is one to one.
 */

const SEGMENT = /^[A-Za-z0-9._-]+$/;
/** The longest session id (shapes.ts `SESSION_ID_PATTERN`). */
const MAX_ID_LENGTH = 128;
/** PROTOCOL.md §6: a first segment the protocol keeps for its control APIs. */
const RESERVED_SEGMENT = '__ds';

/** The session id a stream path names; 400 `invalid_stream_path` naming the rule it breaks. */
export function sessionIdOf(path: string): string {
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
 * The stream path of a session, or undefined for an id no path maps to (one
 * with `::`, or ending with `:`: it would need an empty segment).
 */
export function streamPathOf(sessionId: string): string | undefined {
  const segments = sessionId.split(':');
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..' || !SEGMENT.test(segment))) return undefined;
  if (segments[0] === RESERVED_SEGMENT) return undefined;
  return segments.join('/');
}
