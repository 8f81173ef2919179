import type { FastifyInstance } from 'fastify';
import { InvalidRequest } from '../errors.js';

/**
 * Every JSON body the server accepts is one it can store exactly as the client
 * will later read it back. Refused with 400 `invalid_request`, naming the place:
 * - bytes that are not UTF-8, and JSON that does not parse (with line and column);
 * - nesting deeper than MAX_JSON_DEPTH;
 * - a number that overflows a double (`1e400` would become Infinity, then null);
 * - an integer literal (no fraction, no exponent) beyond ±(2^53-1), which a
 *   double cannot hold exactly; numbers written with a fraction or an exponent
 *   are IEEE doubles and round as such;
 * - strings (values and keys) holding U+0000 or a lone UTF-16 surrogate, which
 *   Postgres text and jsonb cannot hold (they would be refused or turned into
 *   U+FFFD);
 * - keys named `__proto__`, and `constructor` holding `prototype` (the rule of
 *   fastify's own parser): they could change prototypes in code that copies
 *   objects.
 *
 * JSON.parse does the parsing, then one iterative walk checks the value. Only
 * when something needs the source text (a syntax error, or an integer-valued
 * number past 2^53 whose literal form decides) does a scanner read it again.
 */
export function parseJsonBody(raw: Buffer, maxDepth: number): unknown {
  if (raw.length === 0) throw new InvalidRequest('body is empty but Content-Type is application/json; send a JSON object');
  const text = decodeUtf8(raw);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    // Stryker disable next-line ObjectLiteral,ArrayDeclaration: the scanner finds every error JSON.parse does (test/unit/json-body.test.ts); V8's own words only guard a gap in it
    throw refusal(scan(text, false) ?? { message: error.message, path: [] }, text, 'is not valid JSON');
  }
  const { problem, largeIntegers } = inspect(value, maxDepth);
  if (problem) throw refusal(problem, text);
  if (largeIntegers) {
    const integer = scan(text, true);
    if (integer) throw refusal(integer, text);
  }
  return value;
}

/**
 * Generic HTTP wrappers label every request application/json, a DELETE or a
 * bodyless POST included: no bytes is no body, as without the header. A route
 * that needs a body says so when it validates (missingBody in
 * error-handler.ts); a parser error would cost the client its connection
 * (fastify closes it).
 */
export function registerJsonBodyParser(app: FastifyInstance, maxDepth: number): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    const raw = body as Buffer;
    if (raw.length === 0) {
      done(null, undefined);
      return;
    }
    try {
      done(null, parseJsonBody(raw, maxDepth));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

interface Problem {
  message: string;
  path: (string | number)[];
  /** Offset in the text, for syntax errors. */
  offset?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(raw: Buffer): string {
  try {
    return utf8.decode(raw);
  } catch {
    // The shortest prefix that does not decode ends at the first bad byte.
    let low = 0;
    let high = raw.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(raw.subarray(0, middle + 1), { stream: true });
        low = middle + 1;
      } catch {
        high = middle;
      }
    }
    const message = `not valid UTF-8 (at byte ${low}); send JSON as UTF-8`;
    throw new InvalidRequest(`body is ${message}`, [{ in: 'body', field: '', message }]);
  }
}

export function pointerOf(path: readonly (string | number)[]): string {
  return path.map((token) => `/${String(token).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

function refusal(problem: Problem, text: string, what?: string): InvalidRequest {
  const field = pointerOf(problem.path);
  let where = field ? ` at ${field}` : '';
  if (problem.offset !== undefined) {
    const before = text.slice(0, problem.offset);
    const line = before.split('\n').length;
    const column = problem.offset - before.lastIndexOf('\n');
    where = ` at line ${line}, column ${column}${field ? ` (in ${field})` : ''}`;
  }
  const detail = what ? `body ${what}: ${problem.message}${where}` : `body${where}: ${problem.message}`;
  return new InvalidRequest(detail, [{ in: 'body', field, message: problem.message }]);
}

const SUSPECT_CHARACTER = /[\0\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function stringProblem(value: string, what: string): string | undefined {
  if (!SUSPECT_CHARACTER.test(value)) return undefined;
  if (value.includes('\0')) return `${what} holds U+0000, which Postgres cannot store`;
  const lone = LONE_SURROGATE.exec(value);
  if (lone) {
    const unit = `\\u${(lone[0].codePointAt(0) as number).toString(16)}`;
    return `${what} holds a lone UTF-16 surrogate (${unit}), which is not a Unicode character and cannot be stored unchanged`;
  }
  return undefined;
}

function scalarProblem(value: unknown): string | undefined {
  if (typeof value === 'string') return stringProblem(value, 'a string');
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return 'a number too large for a double (it would overflow to Infinity)';
  }
  return undefined;
}

function keyProblem(key: string, value: unknown): string | undefined {
  if (key === '__proto__') return 'a key named "__proto__" is not accepted (it can change an object\'s prototype)';
  if (key === 'constructor' && typeof value === 'object' && value !== null && Object.hasOwn(value, 'prototype')) {
    return 'a key "constructor" holding a key "prototype" is not accepted (it can reach an object\'s prototype)';
  }
  return stringProblem(key, 'a key');
}

interface Frame {
  node: Record<string, unknown> | unknown[];
  keys: string[] | undefined;
  index: number;
}

/** Walks the parsed value once, without recursion. */
function inspect(value: unknown, maxDepth: number): { problem?: Problem; largeIntegers: boolean } {
  let largeIntegers = false;
  const frames: Frame[] = [];
  const pathOf = () => frames.map((frame) => (frame.keys ? (frame.keys[frame.index - 1] as string) : frame.index - 1));
  const visit = (node: unknown): string | undefined => {
    if (typeof node === 'object' && node !== null) {
      if (frames.length + 1 > maxDepth) return `nested deeper than ${maxDepth} levels (MAX_JSON_DEPTH)`;
      const container = node as Record<string, unknown> | unknown[];
      frames.push({ node: container, keys: Array.isArray(container) ? undefined : Object.keys(container), index: 0 });
      return undefined;
    }
    if (typeof node === 'number' && Number.isInteger(node) && !Number.isSafeInteger(node)) largeIntegers = true;
    return scalarProblem(node);
  };
  const rootProblem = visit(value);
  if (rootProblem) return { problem: { message: rootProblem, path: [] }, largeIntegers };
  while (frames.length) {
    const frame = frames.at(-1) as Frame;
    const length = frame.keys ? frame.keys.length : (frame.node as unknown[]).length;
    if (frame.index >= length) {
      frames.pop();
      continue;
    }
    const key = frame.keys ? (frame.keys[frame.index] as string) : frame.index;
    frame.index += 1;
    const child = (frame.node as Record<string, unknown>)[key];
    const problem = (typeof key === 'string' ? keyProblem(key, child) : undefined) ?? visit(child);
    if (problem) {
      // `visit` pushed nothing on a problem, so the path ends at this child.
      return { problem: { message: problem, path: pathOf() }, largeIntegers };
    }
  }
  return { largeIntegers };
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

/**
 * Reads the text once more, tracking where it is: the first syntax error with
 * its offset, or (with `integers`) the first integer literal past 2^53.
 */
function scan(text: string, integers: boolean): Problem | undefined {
  let i = 0;
  const path: (string | number)[] = [];
  const open: ('{' | '[')[] = [];
  const fail = (message: string): Problem => ({ message, path: [...path], offset: i });
  const found = () => (i >= text.length ? 'the end of the body' : JSON.stringify(text[i]));
  const whitespace = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      i += 1;
    }
  };
  const string = (): string | Problem => {
    const start = i;
    i += 1;
    for (;;) {
      if (i >= text.length) return fail('a string is not closed');
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) return fail('a control character inside a string (escape it, e.g. \\n)');
      if (c === 0x5c) {
        const escape = text[i + 1];
        if (escape === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return fail('a \\u escape needs four hex digits');
          i += 6;
        } else if (escape !== undefined && '"\\/bfnrt'.includes(escape)) {
          i += 2;
        } else {
          return fail(`"\\${escape ?? ''}" is not a JSON escape`);
        }
        continue;
      }
      i += 1;
    }
    i += 1;
    return JSON.parse(text.slice(start, i)) as string;
  };
  /** A member name and its colon; leaves `i` at the value. */
  const member = (first: boolean): Problem | undefined => {
    if (text[i] !== '"') return fail(`expected a member name in double quotes, found ${found()}`);
    const key = string();
    if (typeof key !== 'string') return key;
    if (first) path.push(key);
    else path[path.length - 1] = key;
    whitespace();
    if (text[i] !== ':') return fail(`expected ":" after a member name, found ${found()}`);
    i += 1;
    whitespace();
    return undefined;
  };

  whitespace();
  for (;;) {
    const c = text[i];
    if (c === '{' || c === '[') {
      i += 1;
      whitespace();
      const close = c === '{' ? '}' : ']';
      if (text[i] === close) {
        i += 1;
      } else {
        open.push(c);
        if (c === '[') {
          path.push(0);
        } else {
          const problem = member(true);
          if (problem) return problem;
        }
        continue;
      }
    } else if (c === '"') {
      const value = string();
      if (typeof value !== 'string') return value;
    } else if (c !== undefined && /[-0-9]/.test(c)) {
      NUMBER.lastIndex = i;
      const match = NUMBER.exec(text);
      if (!match) return fail('a malformed number');
      if (integers && match[1] === undefined && match[2] === undefined && !Number.isSafeInteger(Number(match[0]))) {
        return {
          message: `the integer ${match[0]} is beyond ±(2^53-1) and would lose precision; send it as a string`,
          path: [...path],
        };
      }
      i = NUMBER.lastIndex;
    } else if (text.startsWith('true', i) || text.startsWith('null', i)) {
      i += 4;
    } else if (text.startsWith('false', i)) {
      i += 5;
    } else {
      return fail(`expected a value, found ${found()}`);
    }
    // After a value: close containers, or move to the next member or element.
    for (;;) {
      whitespace();
      const top = open.at(-1);
      if (top === undefined) return i < text.length ? fail(`unexpected ${found()} after the JSON value`) : undefined;
      const close = top === '{' ? '}' : ']';
      if (text[i] === close) {
        i += 1;
        open.pop();
        path.pop();
        continue;
      }
      if (text[i] !== ',') return fail(`expected "," or "${close}", found ${found()}`);
      i += 1;
      whitespace();
      if (top === '[') {
        path[path.length - 1] = (path.at(-1) as number) + 1;
      } else {
        const problem = member(false);
        if (problem) return problem;
      }
      break;
    }
  }
}
