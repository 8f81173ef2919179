/**
 * RFC 9110 §13.1.2 If-None-Match: `*`, or a list of entity tags, each possibly
 * weak (`W/"..."`), compared weakly. One reading for every route that answers
 * 304 (the state, an attachment, a Durable Streams page): a CDN that
 * compresses turns a strong tag into a weak one, and a cache holding several
 * representations sends them as a list; an exact string comparison answered
 * both with the whole body again.
 */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === '*' || tag.replace(/^W\//, '') === etag;
  });
}
