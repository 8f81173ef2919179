import { describe, expect, it } from 'vitest';
import { redactUrl, serializeError } from '../../src/http/log-safety.js';

/**
 * What a log line keeps of an error (test/http/log-redaction.test.ts shows
 * it through a real failure): enough to find the fault, never a value the
 * request carried.
 */
describe('serializeError', () => {
  /** An error as postgres.js makes one: Postgres's fields, the query and its parameters. */
  function postgresError(message: string, cause?: unknown): Error {
    return Object.assign(new Error(message, cause === undefined ? {} : { cause }), {
      name: 'PostgresError',
      severity: 'ERROR',
      code: '22P02',
      routine: 'pg_strtoint32_safe',
      query: 'update sessions set n = $1 where id = $2',
      parameters: ['seven', 'secret-session'],
      args: ['seven', 'secret-session'],
      detail: 'value "seven"',
    });
  }

  it("keeps Postgres's fields, the SQL with its placeholders and the stack, and cuts the message at its first quote", () => {
    const logged = serializeError(postgresError('invalid input syntax for type integer: "seven"\nand "more"'));
    expect(logged).toMatchObject({
      type: 'Error',
      message: 'invalid input syntax for type integer: "…',
      code: '22P02',
      severity: 'ERROR',
      routine: 'pg_strtoint32_safe',
      query: 'update sessions set n = $1 where id = $2',
    });
    expect(logged.stack.split('\n')[0]).toBe('PostgresError: invalid input syntax for type integer: "…');
    expect(logged.stack.split('\n').slice(1).every((line) => /^\s+at /.test(line))).toBe(true);
    expect(logged.stack.split('\n').length).toBeGreaterThan(1);
    const text = JSON.stringify(logged);
    expect(text).not.toContain('seven');
    expect(text).not.toContain('secret-session');
    expect(logged).not.toHaveProperty('parameters');
    expect(logged).not.toHaveProperty('detail');
  });

  it("keeps the message of an error that is not Postgres's whole, quotes and all", () => {
    expect(serializeError(new TypeError('cannot read "x" of undefined')).message).toBe('cannot read "x" of undefined');
  });

  it('a stack whose message spans lines keeps only its frames after the first line', () => {
    const error = new Error('first\n    not a frame: at line 2');
    error.stack = 'Error: first\n    not a frame: at line 2\n    at f (file.js:1:1)\n    at g (file.js:2:2)';
    expect(serializeError(error).stack).toBe('Error: first\n    not a frame: at line 2\n    at f (file.js:1:1)\n    at g (file.js:2:2)');
    error.stack = undefined;
    expect(serializeError(error).stack).toBe('Error: first\n    not a frame: at line 2');
  });

  it('keeps only fields of a safe kind: strings and numbers, never objects', () => {
    const error = Object.assign(new Error('x'), { code: { value: 'secret' }, errno: -104, syscall: 'read', statusCode: 503 });
    const logged = serializeError(error);
    expect(logged).not.toHaveProperty('code');
    expect(logged).toMatchObject({ errno: -104, syscall: 'read', statusCode: 503 });
  });

  it('follows causes four deep, each as safe as the first', () => {
    let error: unknown = postgresError('deepest "value"');
    for (let n = 5; n >= 1; n--) error = new Error(`level ${n}`, { cause: error });
    const logged = serializeError(error);
    const messages: string[] = [];
    for (let at: { message: string; cause?: unknown } | undefined = logged; at; at = at.cause as typeof at) messages.push(at.message);
    expect(messages).toEqual(['level 1', 'level 2', 'level 3', 'level 4', 'level 5']);
    const shallow = serializeError(new Error('outer', { cause: postgresError('inner "value"') }));
    expect(shallow.cause).toMatchObject({ message: 'inner "…', code: '22P02' });
  });

  it('a thrown value that is no Error says so, and nothing of the value', () => {
    expect(serializeError('secret string')).toEqual({ type: 'string', message: 'a non-Error value was thrown', stack: '' });
    expect(serializeError({ token: 'secret' })).toEqual({ type: 'object', message: 'a non-Error value was thrown', stack: '' });
  });
});

describe('redactUrl', () => {
  it('replaces the values of credential-like parameters, however spelled, and keeps the rest as sent', () => {
    expect(redactUrl('/v1/sessions/a/stream?access_token=abc.def&after=3')).toBe('/v1/sessions/a/stream?access_token=[redacted]&after=3');
    expect(redactUrl('/x?API%5FKEY=1&Password=2&flag&auth')).toBe('/x?API%5FKEY=[redacted]&Password=[redacted]&flag&auth');
    expect(redactUrl('/x?a=%E0%A4%A&b=1')).toBe('/x?a=%E0%A4%A&b=1');
    expect(redactUrl('/no/query')).toBe('/no/query');
  });
});
