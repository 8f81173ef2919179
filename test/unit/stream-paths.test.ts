import { describe, expect, it } from 'vitest';
import { sessionIdOf, undecodableStreamPath } from '../../src/streams/paths.js';
import { offsetOf, parseOffset } from '../../src/streams/offsets.js';

/** The detail of `sessionIdOf`'s refusal of `path`. */
function sessionIdRefusal(path: string): string {
  try {
    sessionIdOf(path);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`${path} was taken`);
}

describe('Durable Streams paths name sessions', () => {
  it('joins segments with : so a folder is an id prefix a grant pattern covers', () => {
    expect(sessionIdOf('chat-1')).toBe('chat-1');
    expect(sessionIdOf('team-a/chat-1')).toBe('team-a:chat-1');
    expect(sessionIdOf('a/b.c/d_e')).toBe('a:b.c:d_e');
  });

  it('maps back: the session of a path has that path (no segment holds a :)', () => {
    for (const path of ['chat-1', 'team-a/chat-1', 'a/b.c/d_e', '9/x']) expect(sessionIdOf(path).replaceAll(':', '/')).toBe(path);
  });

  it('refuses what cannot map one to one, naming the rule', () => {
    const refused: [string, RegExp][] = [
      ['a:b', /character outside/],
      // Never decoded: not another spelling of a/b, and a malformed escape is refused the same way.
      ['a%2Fb', /has a %/],
      ['a%zz', /has a %/],
      ['%E0%A4%A', /has a %/],
      ['__ds/%zz', /has a %/],
      ['a b', /character outside/],
      ['é', /character outside/],
      ['a//b', /empty segment/],
      ['a/', /empty segment/],
      ['', /empty segment/],
      ['a/../b', /\. or \.\. segment/],
      ['a/./b', /\. or \.\. segment/],
      ['-a', /start with a letter or a digit/],
      ['.a', /start with a letter or a digit/],
      ['__ds/subscriptions/x', /reserves/],
      ['a'.repeat(129), /longer than 128/],
    ];
    for (const [path, rule] of refused) {
      expect(() => sessionIdOf(path), path).toThrow(rule);
      try {
        sessionIdOf(path);
      } catch (error) {
        expect((error as { code: string; status: number }).code).toBe('invalid_stream_path');
        expect((error as { status: number }).status).toBe(400);
      }
    }
    expect(sessionIdOf('a'.repeat(128))).toHaveLength(128);
  });

  it('a path the router cannot decode is refused as any %, naming it', () => {
    const refusal = undecodableStreamPath('a%zz');
    expect(refusal).toMatchObject({ status: 400, code: 'invalid_stream_path', extra: { path: 'a%zz' } });
    expect(refusal.message).toBe(sessionIdRefusal('a%zz'));
  });
});

describe('Durable Streams offsets are seq cursors', () => {
  it('is fixed width, so string order is seq order', () => {
    expect(offsetOf(0)).toBe('0000000000000000_0000000000000000');
    expect(offsetOf(42)).toBe('0000000000000000_0000000000000042');
    const seqs = [0, 1, 9, 10, 99, 100, 12345, Number.MAX_SAFE_INTEGER];
    const offsets = seqs.map(offsetOf);
    expect([...offsets].sort()).toEqual(offsets);
  });

  it('reads -1 and the zero offset as the start, now as the tail, and an offset as after its seq', () => {
    expect(parseOffset(undefined)).toEqual({ after: 0 });
    expect(parseOffset('-1')).toEqual({ after: 0 });
    expect(parseOffset('0000000000000000_0000000000000000')).toEqual({ after: 0 });
    expect(parseOffset('now')).toEqual({ tail: true });
    expect(parseOffset(offsetOf(7))).toEqual({ after: 7 });
  });

  it('refuses any other shape with 400', () => {
    for (const bad of ['', ['-1', '-1'], '7', '-2', 'NOW', '0000000000000001_0000000000000000', '0000000000000000_000000000000000',
      '0000000000000000_0000000000000000 ', '0000000000000000,0000000000000000', '../x', '0000000000000000_9999999999999999']) {
      expect(() => parseOffset(bad), JSON.stringify(bad)).toThrow(/offset/);
    }
  });
});
