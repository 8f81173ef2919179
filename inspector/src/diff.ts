/**
 * What changed between two JSON values, as a list of changes at JSON
 * Pointers: added, removed, or changed from one value to another. Objects
 * are compared key by key, arrays index by index (an item inserted at the
 * front shows as every later index changed, which is what happened to them).
 */
import { h, jsonText } from './dom.js';

export interface Change {
  op: 'added' | 'removed' | 'changed';
  path: string;
  before?: unknown;
  after?: unknown;
}

/** Changes listed at most; the rest are counted. */
const MAX_CHANGES = 1000;

const pointer = (parent: string, key: string) => `${parent}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export function diff(before: unknown, after: unknown, path = '', out: Change[] = []): Change[] {
  if (Array.isArray(before) && Array.isArray(after)) {
    const shared = Math.min(before.length, after.length);
    for (let i = 0; i < shared; i++) diff(before[i], after[i], pointer(path, String(i)), out);
    for (let i = shared; i < after.length; i++) out.push({ op: 'added', path: pointer(path, String(i)), after: after[i] });
    for (let i = shared; i < before.length; i++) out.push({ op: 'removed', path: pointer(path, String(i)), before: before[i] });
    return out;
  }
  if (isObject(before) && isObject(after)) {
    for (const [key, value] of Object.entries(before)) {
      if (Object.hasOwn(after, key)) diff(value, after[key], pointer(path, key), out);
      else out.push({ op: 'removed', path: pointer(path, key), before: value });
    }
    for (const [key, value] of Object.entries(after)) if (!Object.hasOwn(before, key)) out.push({ op: 'added', path: pointer(path, key), after: value });
    return out;
  }
  if (before === undefined && after !== undefined) out.push({ op: 'added', path, after });
  else if (after === undefined && before !== undefined) out.push({ op: 'removed', path, before });
  else if (JSON.stringify(before) !== JSON.stringify(after)) out.push({ op: 'changed', path, before, after });
  return out;
}

const SIGN: Record<Change['op'], string> = { added: '+', removed: '−', changed: '~' };

/** The changes as a list: one line each, sign, pointer, value(s), all text. */
export function renderDiff(changes: Change[]): HTMLElement {
  if (changes.length === 0) return h('p', { class: 'hint', attrs: { id: 'diff-result' } }, 'The two versions hold the same state.');
  const counts = (['added', 'removed', 'changed'] as const).map((op) => [op, changes.filter((c) => c.op === op).length] as const).filter(([, n]) => n > 0);
  const value = (v: unknown) => h('code', { class: 'value' }, jsonText(v, 2000));
  return h(
    'div',
    { attrs: { id: 'diff-result' } },
    h('p', { class: 'diff-summary' }, `${changes.length} change${changes.length === 1 ? '' : 's'}: ${counts.map(([op, n]) => `${n} ${op}`).join(', ')}`),
    h(
      'ol',
      { class: 'diff' },
      ...changes.slice(0, MAX_CHANGES).map((change) =>
        h(
          'li',
          { class: `change change-${change.op}`, attrs: { 'data-op': change.op, 'data-path': change.path } },
          h('span', { class: 'sign', attrs: { 'aria-label': change.op } }, SIGN[change.op]),
          ' ',
          h('code', { class: 'path' }, change.path || '(the whole state)'),
          ' ',
          change.op === 'changed' ? [value(change.before), h('span', { class: 'arrow' }, ' → '), value(change.after)] : value(change.op === 'added' ? change.after : change.before),
        ),
      ),
    ),
    changes.length > MAX_CHANGES ? h('p', { class: 'more' }, `… ${changes.length - MAX_CHANGES} more changes`) : null,
  );
}
