import { describe, expect, it } from 'vitest';
import { diff, diffText, MAX_CHANGES, pointer } from '../../inspector/src/diff.js';

// The inspector's "Compare versions" (docs/guide.md, Comparing versions): what changed in the state
// between two versions, each value added (+), removed (−) or changed (~), by JSON Pointer, with the values.

describe('the diff between two versions of a state', () => {
  it('finds nothing between equal states, whatever the order of their keys', () => {
    expect(diff({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toEqual([]);
    expect(diff(null, null)).toEqual([]);
    expect(diff('x', 'x')).toEqual([]);
    expect(diffText([])).toEqual({ summary: 'The two versions hold the same state.', lines: [], more: undefined });
  });

  it('lists a value added, one removed and one changed, each at its pointer', () => {
    const before = { plan: { days: 2, budget: 900 }, note: 'draft' };
    const after = { plan: { days: 2, budget: 1200, hotel: 'Ibis' } };
    const changes = diff(before, after);
    expect(changes).toEqual([
      { op: 'changed', path: '/plan/budget', before: 900, after: 1200 },
      { op: 'added', path: '/plan/hotel', after: 'Ibis' },
      { op: 'removed', path: '/note', before: 'draft' },
    ]);
    const text = diffText(changes);
    expect(text.summary).toBe('3 changes: 1 added, 1 removed, 1 changed');
    expect(text.lines).toEqual([
      { op: 'changed', sign: '~', path: '/plan/budget', where: '/plan/budget', values: ['900', '1200'] },
      { op: 'added', sign: '+', path: '/plan/hotel', where: '/plan/hotel', values: ['"Ibis"'] },
      { op: 'removed', sign: '−', path: '/note', where: '/note', values: ['"draft"'] },
    ]);
    expect(text.more).toBeUndefined();
  });

  it('says a single change in the singular, and counts only the kinds there are', () => {
    expect(diffText(diff({}, { a: 1 })).summary).toBe('1 change: 1 added');
    expect(diffText(diff({ a: 1, b: 2 }, {})).summary).toBe('2 changes: 2 removed');
    expect(diffText(diff({ a: 1 }, { a: 2 })).summary).toBe('1 change: 1 changed');
  });

  it('compares arrays index by index: items appended, items taken off the end, an item inserted at the front', () => {
    expect(diff({ days: ['Mon', 'Tue'] }, { days: ['Mon', 'Tue', 'Wed', 'Thu'] })).toEqual([
      { op: 'added', path: '/days/2', after: 'Wed' },
      { op: 'added', path: '/days/3', after: 'Thu' },
    ]);
    expect(diff({ days: ['Mon', 'Tue', 'Wed'] }, { days: ['Mon'] })).toEqual([
      { op: 'removed', path: '/days/1', before: 'Tue' },
      { op: 'removed', path: '/days/2', before: 'Wed' },
    ]);
    // Every later index holds another value now, and the last one is new: that is what happened to them.
    expect(diff(['b', 'c'], ['a', 'b', 'c'])).toEqual([
      { op: 'changed', path: '/0', before: 'b', after: 'a' },
      { op: 'changed', path: '/1', before: 'c', after: 'b' },
      { op: 'added', path: '/2', after: 'c' },
    ]);
    expect(diff([], [])).toEqual([]);
  });

  it('goes into nested objects and arrays, naming the innermost value that changed', () => {
    const before = { trips: [{ city: 'Paris', stops: [{ name: 'Louvre', open: true }] }] };
    const after = { trips: [{ city: 'Paris', stops: [{ name: 'Louvre', open: false }] }] };
    expect(diff(before, after)).toEqual([{ op: 'changed', path: '/trips/0/stops/0/open', before: true, after: false }]);
  });

  it('escapes keys in pointers as RFC 6901 says: ~ as ~0, / as ~1, ~ first', () => {
    expect(diff({ 'a/b': 1, 'm~n': 1, '/': 1, '~1': 1, '': 1 }, { 'a/b': 2, 'm~n': 2, '/': 2, '~1': 2, '': 2 }).map((change) => change.path)).toEqual([
      '/a~1b',
      '/m~0n',
      '/~1',
      '/~01',
      '/',
    ]);
    expect(pointer('/x', '~/')).toBe('/x/~0~1');
    expect(pointer('', 'a//b~~')).toBe('/a~1~1b~0~0');
  });

  it('compares keys named like an object\'s own properties as any other key', () => {
    // A worker's state is any JSON: JSON.parse makes "__proto__" an ordinary key.
    const before = JSON.parse('{"toString":"x","constructor":1,"__proto__":{"a":1},"valueOf":[1]}');
    expect(diff(before, {})).toEqual([
      { op: 'removed', path: '/toString', before: 'x' },
      { op: 'removed', path: '/constructor', before: 1 },
      { op: 'removed', path: '/__proto__', before: { a: 1 } },
      { op: 'removed', path: '/valueOf', before: [1] },
    ]);
    expect(diff({}, before).map((change) => `${change.op} ${change.path}`)).toEqual(['added /toString', 'added /constructor', 'added /__proto__', 'added /valueOf']);
    expect(diff(before, JSON.parse('{"toString":"y","constructor":1,"__proto__":{"a":2},"valueOf":[1]}'))).toEqual([
      { op: 'changed', path: '/toString', before: 'x', after: 'y' },
      { op: 'changed', path: '/__proto__/a', before: 1, after: 2 },
    ]);
  });

  it('shows a value whose type changed as changed, whole, not as the members that differ', () => {
    expect(diff({ v: 1 }, { v: '1' })).toEqual([{ op: 'changed', path: '/v', before: 1, after: '1' }]);
    expect(diff({ v: { 0: 'a' } }, { v: ['a'] })).toEqual([{ op: 'changed', path: '/v', before: { 0: 'a' }, after: ['a'] }]);
    expect(diff({ v: ['a'] }, { v: { 0: 'a' } })).toEqual([{ op: 'changed', path: '/v', before: ['a'], after: { 0: 'a' } }]);
    expect(diff({ v: { a: 1 } }, { v: null })).toEqual([{ op: 'changed', path: '/v', before: { a: 1 }, after: null }]);
    expect(diff({ v: [] }, { v: {} })).toEqual([{ op: 'changed', path: '/v', before: [], after: {} }]);
  });

  it('tells a null value from a missing one', () => {
    expect(diff({ a: null }, {})).toEqual([{ op: 'removed', path: '/a', before: null }]);
    expect(diff({}, { a: null })).toEqual([{ op: 'added', path: '/a', after: null }]);
    expect(diff({ a: null }, { a: 0 })).toEqual([{ op: 'changed', path: '/a', before: null, after: 0 }]);
    expect(diff({ a: null }, { a: null })).toEqual([]);
    expect(diffText(diff({ a: null }, {})).lines[0]!.values).toEqual(['null']);
  });

  it('names the whole state where a version had none', () => {
    const changes = diff(null, { a: 1 });
    expect(changes).toEqual([{ op: 'changed', path: '', before: null, after: { a: 1 } }]);
    expect(diffText(changes).lines[0]).toMatchObject({ path: '', where: '(the whole state)', values: ['null', '{"a":1}'] });
    expect(diff(undefined, 5)).toEqual([{ op: 'added', path: '', after: 5 }]);
    expect(diff(5, undefined)).toEqual([{ op: 'removed', path: '', before: 5 }]);
    expect(diff(undefined, undefined)).toEqual([]);
  });

  it('cuts a long value shown in a change, saying how much more there is', () => {
    const long = 'x'.repeat(2100);
    const [line] = diffText(diff({ a: '' }, { a: long })).lines;
    // 2,102 characters of JSON text (the quotes): the first 2,000 shown.
    expect(line!.values[1]).toBe(`"${'x'.repeat(1999)}… (102 more characters)`);
  });

  it(`lists at most ${MAX_CHANGES} changes and counts the rest`, () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => i);
    const over = diffText(diff([], many(MAX_CHANGES + 3)));
    expect(over.summary).toBe(`${MAX_CHANGES + 3} changes: ${MAX_CHANGES + 3} added`);
    expect(over.lines).toHaveLength(MAX_CHANGES);
    expect(over.lines.at(-1)!.path).toBe(`/${MAX_CHANGES - 1}`);
    expect(over.more).toBe('… 3 more changes');
    const exactly = diffText(diff([], many(MAX_CHANGES)));
    expect(exactly.lines).toHaveLength(MAX_CHANGES);
    expect(exactly.more).toBeUndefined();
  });
});
