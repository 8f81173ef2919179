/**
 * Which branches of a JSON tree are open, by JSON Pointer, so a tree that
 * follows deltas keeps the viewer's folding; and what a branch says of its
 * shape. No DOM: tree.ts draws the tree.
 */

export class Folding {
  private readonly open = new Map<string, boolean>();
  /** Open to this depth unless the viewer chose otherwise (Infinity after "Expand all", 0 after "Collapse all"). */
  private depth: number;
  constructor(depth = 2) {
    this.depth = depth;
  }
  isOpen(path: string, depth: number): boolean {
    return this.open.get(path) ?? depth < this.depth;
  }
  set(path: string, open: boolean): void {
    this.open.set(path, open);
  }
  all(open: boolean): void {
    this.open.clear();
    this.depth = open ? Infinity : 0;
  }
}

/** A JSON value's type as the tree labels its leaves: `null`, `array`, or its typeof. */
export function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
