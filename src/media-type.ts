import { UnsupportedMediaType } from './errors.js';

/** A Content-Type longer than this is refused rather than stored (attachments keep theirs). */
export const MAX_MEDIA_TYPE_LENGTH = 255;

// RFC 9110 section 8.3.1: media-type = type "/" subtype parameters, where
// parameters = *( OWS ";" OWS [ token "=" ( token / quoted-string ) ] ).
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED_STRING = '"(?:[\\t \\x21\\x23-\\x5B\\x5D-\\x7E\\x80-\\xFF]|\\\\[\\t \\x21-\\x7E\\x80-\\xFF])*"';
const PARAMETERS = `(?:[ \\t]*;[ \\t]*(?:${TOKEN}=(?:${TOKEN}|${QUOTED_STRING}))?)*`;
const MEDIA_TYPE = new RegExp(`^(${TOKEN})/(${TOKEN})(${PARAMETERS})$`);

/**
 * A Content-Type header as a media type: type and subtype lowercased (they are
 * case-insensitive), the parameters as sent; undefined when the header is not
 * one (or is longer than MAX_MEDIA_TYPE_LENGTH).
 */
export function parseMediaType(header: string): string | undefined {
  const value = header.trim();
  if (value.length > MAX_MEDIA_TYPE_LENGTH) return undefined;
  const match = MEDIA_TYPE.exec(value);
  if (!match) return undefined;
  return `${match[1]?.toLowerCase()}/${match[2]?.toLowerCase()}${match[3] ?? ''}`;
}

/**
 * Whether a Content-Type header is the media type `essence` (type/subtype, lowercase), whatever its parameters and
 * letter case: `application/x-ndjson; charset=utf-8` is NDJSON, `application/x-ndjsonx` is not.
 */
export function isMediaType(header: string | undefined, essence: string): boolean {
  const parsed = header === undefined ? undefined : parseMediaType(header);
  return parsed !== undefined && /^[^;\s]+/.exec(parsed)?.[0] === essence;
}

/** The 415 for a Content-Type header that parseMediaType refuses: the detail names the header and the rule. */
export function notAMediaType(header: string): UnsupportedMediaType {
  const value = header.trim();
  if (value.length > MAX_MEDIA_TYPE_LENGTH) {
    return new UnsupportedMediaType(`Content-Type is longer than ${MAX_MEDIA_TYPE_LENGTH} characters`);
  }
  return new UnsupportedMediaType(
    `Content-Type ${JSON.stringify(value)} is not a media type: type/subtype, then parameters as name=value ` +
      '(e.g. text/plain; charset=utf-8)',
  );
}
