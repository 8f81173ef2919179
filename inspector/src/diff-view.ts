/** The diff between two versions as a list: one line each, sign, pointer, value(s), all text (diff.ts words them). */
import { type Change, diffText } from './diff.js';
import { h } from './dom.js';

export function renderDiff(changes: Change[]): HTMLElement {
  const text = diffText(changes);
  if (changes.length === 0) return h('p', { class: 'hint', attrs: { id: 'diff-result' } }, text.summary);
  const value = (v: string) => h('code', { class: 'value' }, v);
  return h(
    'div',
    { attrs: { id: 'diff-result' } },
    h('p', { class: 'diff-summary' }, text.summary),
    h(
      'ol',
      { class: 'diff' },
      ...text.lines.map((line) =>
        h(
          'li',
          { class: `change change-${line.op}`, attrs: { 'data-op': line.op, 'data-path': line.path } },
          h('span', { class: 'sign', attrs: { 'aria-label': line.op } }, line.sign),
          ' ',
          h('code', { class: 'path' }, line.where),
          ' ',
          line.values.length === 2 ? [value(line.values[0]!), h('span', { class: 'arrow' }, ' → '), value(line.values[1]!)] : value(line.values[0]!),
        ),
      ),
    ),
    text.more ? h('p', { class: 'more' }, text.more) : null,
  );
}
