import { describe, expect, it } from 'vitest';
import { Folding, typeOf } from '../../inspector/src/folding.js';

// The inspector's JSON trees (docs/guide.md, Inspector): branches open and close; "Expand all" and
// "Collapse all"; the tree keeps what you opened while the state changes under it (by JSON Pointer).

describe('which branches of a tree are open', () => {
  it('opens the first levels until the viewer chooses', () => {
    const folding = new Folding();
    expect(folding.isOpen('', 0)).toBe(true);
    expect(folding.isOpen('/plan', 1)).toBe(true);
    expect(folding.isOpen('/plan/days', 2)).toBe(false);
    const shallow = new Folding(1);
    expect(shallow.isOpen('', 0)).toBe(true);
    expect(shallow.isOpen('/plan', 1)).toBe(false);
    expect(new Folding(0).isOpen('', 0)).toBe(false);
  });

  it('keeps what the viewer opened and closed, by pointer, at any depth', () => {
    const folding = new Folding(2);
    folding.set('/plan/days', true);
    folding.set('/plan', false);
    expect(folding.isOpen('/plan/days', 2)).toBe(true);
    expect(folding.isOpen('/plan', 1)).toBe(false);
    expect(folding.isOpen('/budget', 1)).toBe(true);
    folding.set('/plan', true);
    expect(folding.isOpen('/plan', 1)).toBe(true);
  });

  it('opens everything on "Expand all" and closes everything on "Collapse all", forgetting earlier choices', () => {
    const folding = new Folding(2);
    folding.set('/a', false);
    folding.all(true);
    expect(folding.isOpen('/a', 1)).toBe(true);
    expect(folding.isOpen('/a/b/c/d/e', 50)).toBe(true);
    folding.set('/a/b', false);
    folding.all(false);
    expect(folding.isOpen('', 0)).toBe(false);
    expect(folding.isOpen('/a/b', 2)).toBe(false);
    folding.set('/a', true);
    expect(folding.isOpen('/a', 1)).toBe(true);
    expect(folding.isOpen('/b', 1)).toBe(false);
  });
});

describe('a leaf\'s type', () => {
  it('names null and arrays apart from objects', () => {
    expect([null, [], {}, 'a', 1, true].map(typeOf)).toEqual(['null', 'array', 'object', 'string', 'number', 'boolean']);
  });
});
