import { notAMediaType, parseMediaType } from '../media-type.js';

/**
 * How attachment bytes are served. They come from workers that may be
 * hostile, and they are served from the origin of the inspector and the API,
 * so nothing in them may run here: the browser must not sniff another type
 * (nosniff), a document opened anyway gets an opaque origin with no scripts
 * (the sandbox CSP), and anything a browser would render as a document is a
 * download rather than a page.
 */
export const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "sandbox; default-src 'none'; frame-ancestors 'none'",
} as const;

/**
 * Types shown inline: media a browser shows without running anything, and
 * text shown as text. Everything else (HTML, SVG, XML, PDF, and any type not
 * named here) is served as an attachment.
 */
const INLINE = new Set([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/bmp',
  'text/plain',
  'application/json',
]);
const INLINE_PREFIXES = ['audio/', 'video/'];

export function isInline(contentType: string): boolean {
  const essence = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return INLINE.has(essence) || INLINE_PREFIXES.some((prefix) => essence.startsWith(prefix));
}

export function dispositionOf(contentType: string, attachmentId: string): string {
  return isInline(contentType) ? 'inline' : `attachment; filename="${attachmentId}"`;
}

/**
 * The upload's Content-Type as it is kept: a media type (type and subtype
 * lowercased); none at all is application/octet-stream. A header that is not
 * a media type is refused (415), never kept as some other type.
 */
export function normaliseContentType(header: string | undefined): string {
  // Node's HTTP parser strips a field value's surrounding whitespace: a blank header arrives as ''.
  if (header === undefined || header === '') return 'application/octet-stream';
  const mediaType = keptContentType(header);
  if (mediaType === undefined) throw notAMediaType(header);
  return mediaType;
}

/** A content type as an upload keeps it, or undefined for one an upload refuses (an import's check). */
export function keptContentType(value: string): string | undefined {
  return parseMediaType(value);
}

/**
 * One `bytes=` range (RFC 9110 section 14), as [first, last] inclusive; a
 * header that is absent, malformed or asks for several ranges is ignored (the
 * whole file is sent, as the RFC allows); a range wholly outside the file is
 * `unsatisfiable` (416).
 */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header);
  if (!match) return undefined;
  const [, from = '', to = ''] = match;
  if (from === '' && to === '') return undefined;
  if (from === '') {
    const suffix = Number(to);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size - 1];
  }
  const first = Number(from);
  // Stryker disable next-line ArithmeticOperator: any last byte at or past the file's end is cut to size - 1 below
  const last = to === '' ? size - 1 : Number(to);
  if (first >= size) return 'unsatisfiable';
  if (last < first) return undefined;
  return [first, Math.min(last, size - 1)];
}
