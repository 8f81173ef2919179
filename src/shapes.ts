import { Type } from '@sinclair/typebox';

/** Shapes every layer shares (ids, counters, timestamps, enums); the HTTP-only ones stay in `http/schemas.ts`. */

export const SESSION_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';

export const SessionId = Type.String({
  pattern: SESSION_ID_PATTERN,
  description: 'Letters, digits and . _ : - (not first), 1-128 characters.',
  'x-pattern-message': 'letters, digits and . _ : - only, starting with a letter or digit, at most 128 characters',
  examples: ['team-a:run-42'],
});

export const Version = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
export const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
export const SchemaVersion = Type.Integer({ minimum: 0, maximum: 2_147_483_647 });
export const Timestamp = Type.String({ format: 'date-time' });
export const Base64 = Type.String({
  pattern: '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$',
  contentEncoding: 'base64',
  description: 'Standard base64 (RFC 4648 section 4), padded.',
  'x-pattern-message': 'standard padded base64 (A-Z a-z 0-9 + /, length a multiple of 4, = padding)',
});
/** An id the server made (a uuidv7: batches, claims, messages), as a route takes it back. */
export const ServerId = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9-]+$',
  'x-pattern-message': 'an id as the server returned it (letters, digits and -)',
});
/**
 * A page's size when a list request names none. Validation fills it in (`useDefaults`), so the routes' own
 * `limit = DEFAULT_LIMIT` only gives the type (an optional query field) its value, never a request.
 */
export const DEFAULT_LIMIT = 100;
export const Limit = Type.Integer({ minimum: 1, maximum: 1000, default: DEFAULT_LIMIT });


/** A string enum as a plain JSON Schema `enum`, so a bad value is reported as "must be one of ...". */
export function StringEnum<const T extends readonly string[]>(values: T, options: { description?: string; default?: T[number] } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}
