/**
 * A JSON value as a collapsible tree (<details>/<summary>, so folding needs no
 * script). Which nodes are open is kept by JSON Pointer across re-renders, so
 * a tree that follows deltas keeps the viewer's folding.
 */
import { h, jsonText } from './dom.js';

/** Children shown per object or array; the rest is summarised. */
const MAX_CHILDREN = 500;

export class Folding {
  private readonly open = new Map<string, boolean>();
  isOpen(path: string, depth: number): boolean {
    return this.open.get(path) ?? depth < 2;
  }
  set(path: string, open: boolean): void {
    this.open.set(path, open);
  }
}

const pointer = (parent: string, key: string) => `${parent}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

export function renderTree(value: unknown, folding: Folding): HTMLElement {
  return h('div', { class: 'tree', attrs: { role: 'tree' } }, node(null, value, '', 0, folding));
}

function node(key: string | null, value: unknown, path: string, depth: number, folding: Folding): HTMLElement {
  const label = key === null ? null : h('span', { class: 'key' }, key);
  if (value === null || typeof value !== 'object') {
    return h('div', { class: 'leaf', attrs: { 'data-path': path } }, label, label && ': ', h('span', { class: `v v-${typeOf(value)}` }, jsonText(value, 20_000)));
  }
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((item, index) => [String(index), item]) : Object.entries(value);
  const details = h('details', { class: 'branch', attrs: { 'data-path': path } });
  details.open = folding.isOpen(path, depth);
  details.addEventListener('toggle', () => folding.set(path, details.open));
  const shape = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
  details.append(h('summary', null, label, label && ' ', h('span', { class: 'shape' }, shape)));
  const children = h('div', { class: 'children' });
  for (const [childKey, child] of entries.slice(0, MAX_CHILDREN)) children.append(node(childKey, child, pointer(path, childKey), depth + 1, folding));
  if (entries.length > MAX_CHILDREN) children.append(h('div', { class: 'more' }, `… ${entries.length - MAX_CHILDREN} more`));
  details.append(children);
  return details;
}
