/**
 * A JSON value as a collapsible tree (<details>/<summary>: folding needs no
 * script, and every branch is a focusable control that Enter and Space open
 * and close), or as pretty-printed JSON text. Which nodes are open is kept by
 * JSON Pointer across re-renders, so a tree that follows deltas keeps the
 * viewer's folding.
 */
import { pointer } from './diff.js';
import { h } from './dom.js';
import { Folding, typeOf } from './folding.js';
import { jsonText } from './format.js';

/** Children shown per object or array; the rest is summarised. */
const MAX_CHILDREN = 500;
/** Characters of a closed branch's one-line preview. */
const PREVIEW_CHARS = 80;

export function renderTree(value: unknown, folding: Folding): HTMLElement {
  return h('div', { class: 'tree' }, node(null, value, '', 0, folding));
}

function node(key: string | null, value: unknown, path: string, depth: number, folding: Folding): HTMLElement {
  const label = key === null ? null : h('span', { class: 'key' }, key);
  if (value === null || typeof value !== 'object') {
    return h('div', { class: 'leaf', attrs: { 'data-path': path } }, label, label && ': ', h('span', { class: `v v-${typeOf(value)}` }, jsonText(value, 20_000)));
  }
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((item, index) => [String(index), item]) : Object.entries(value);
  const details = h('details', { class: 'branch', attrs: { 'data-path': path } });
  details.open = folding.isOpen(path, depth);
  const shape = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
  // Closed, a branch still shows the start of what it holds.
  const preview = h('span', { class: 'preview' }, ` ${jsonText(value, PREVIEW_CHARS)}`);
  preview.hidden = details.open;
  details.addEventListener('toggle', () => {
    folding.set(path, details.open);
    preview.hidden = details.open;
  });
  details.append(h('summary', null, label, label && ' ', h('span', { class: 'shape' }, shape), preview));
  const children = h('div', { class: 'children' });
  for (const [childKey, child] of entries.slice(0, MAX_CHILDREN)) children.append(node(childKey, child, pointer(path, childKey), depth + 1, folding));
  if (entries.length > MAX_CHILDREN) children.append(h('div', { class: 'more' }, `… ${entries.length - MAX_CHILDREN} more`));
  details.append(children);
  return details;
}

/**
 * A tree with its controls: expand all, collapse all, and the same value as
 * pretty-printed JSON text (to read or copy whole). `set` shows another value
 * and keeps the folding and the chosen form.
 */
export class JsonView {
  readonly element: HTMLElement;
  private readonly body = h('div', { class: 'json-body' });
  private readonly asText: HTMLButtonElement;
  private value: unknown;
  private text = false;

  constructor(
    private readonly folding: Folding = new Folding(),
    id?: string,
  ) {
    const button = (label: string, click: () => void, name: string) =>
      h('button', { class: 'small', attrs: { type: 'button', 'data-action': name }, on: { click } }, label);
    this.asText = button('As text', () => this.toggleText(), 'text');
    this.asText.setAttribute('aria-pressed', 'false');
    this.element = h(
      'div',
      { class: 'json-view', attrs: id ? { id } : {} },
      h(
        'div',
        { class: 'json-tools' },
        button('Expand all', () => this.fold(true), 'expand'),
        button('Collapse all', () => this.fold(false), 'collapse'),
        this.asText,
      ),
      this.body,
    );
  }

  set(value: unknown): void {
    this.value = value;
    this.render();
  }

  private fold(open: boolean): void {
    this.folding.all(open);
    if (this.text) this.toggleText();
    else this.render();
  }

  private toggleText(): void {
    this.text = !this.text;
    this.asText.setAttribute('aria-pressed', String(this.text));
    this.asText.textContent = this.text ? 'As tree' : 'As text';
    this.render();
  }

  private render(): void {
    const value = this.value;
    this.body.replaceChildren(this.text ? h('pre', { class: 'json-text' }, jsonText(value, 200_000, 2)) : renderTree(value, this.folding));
  }
}
