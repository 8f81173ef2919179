/**
 * What the logs may carry. Errors from the database carry their query's
 * parameters (postgres.js's `parameters` and `args`), and those parameters
 * are user data: state, activity details, NOTIFY payloads, token digests. Log
 * lines keep what an operator needs to find the fault (the SQL text with its
 * placeholders, the Postgres code, the stack), never the values.
 */

/** Error fields that describe a fault without carrying a value from the request. */
const SAFE_FIELDS = [
  'code',
  'severity',
  'routine',
  'schema_name',
  'table_name',
  'column_name',
  'constraint_name',
  'statusCode',
  'errno',
  'syscall',
] as const;

/**
 * Postgres quotes the offending value in some messages (`invalid input syntax
 * for type integer: "…"`), unescaped, so the message is cut at its first quote;
 * names of constraints, tables and columns are logged in their own fields.
 */
// Stryker disable next-line Regex: with the s flag `.*` runs to the end anyway, so `$` changes nothing (it says where the cut ends)
const maskQuoted = (text: string) => text.replace(/".*$/s, '"…');

function safeMessage(error: Error & Record<string, unknown>): string {
  return typeof error.severity === 'string' ? maskQuoted(error.message) : error.message;
}

export interface LoggedError {
  [field: string]: unknown;
  type: string;
  message: string;
  stack: string;
}

/** pino's `err` serializer for every log line: an allow-list, so a new field never leaks by default. */
export function serializeError(error: unknown, depth = 0): LoggedError {
  if (!(error instanceof Error)) return { type: typeof error, message: 'a non-Error value was thrown', stack: '' };
  const fields = error as Error & Record<string, unknown>;
  const message = safeMessage(fields);
  // Stryker disable next-line StringLiteral: any text without stack frames in it gives the same no frames
  const frames = (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  const out: LoggedError = {
    type: error.constructor.name || error.name,
    message,
    stack: [`${error.name}: ${message}`, ...frames].join('\n'),
  };
  for (const field of SAFE_FIELDS) {
    const value = fields[field];
    if (typeof value === 'string' || typeof value === 'number') out[field] = value;
  }
  // The SQL text carries placeholders ($1), not values.
  // Stryker disable next-line ConditionalExpression: a `query` that is not a string is set as undefined, which JSON leaves out of the line
  if (typeof fields.query === 'string') out.query = fields.query;
  if (error.cause !== undefined && depth < 4) out.cause = serializeError(error.cause, depth + 1);
  return out;
}

/** Query parameters whose values are credentials, whatever their spelling in the URL. */
const SECRET_PARAMETER = /token|secret|password|key|auth/i;

function decoded(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return text;
  }
}

/**
 * The request URL as logged: the path and each query parameter, with the
 * values of credential-like parameters replaced (`?access_token=` is how
 * EventSource sends its token; a refused request logs its URL too).
 */
export function redactUrl(url: string): string {
  const at = url.indexOf('?');
  if (at < 0) return url;
  const query = url
    .slice(at + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      return SECRET_PARAMETER.test(decoded(name)) && eq >= 0 ? `${name}=[redacted]` : pair;
    })
    .join('&');
  return `${url.slice(0, at)}?${query}`;
}
