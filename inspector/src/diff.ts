/**
 * What changed between two JSON values, as a list of changes at JSON
 * Pointers: added, removed, or changed from one value to another. Objects
 * are compared key by key, arrays index by index (an item inserted at the
 * front shows as every later index changed, which is what happened to them).
 * No DOM: diff-view.ts draws the lines this module words.
 */
import { jsonText, plural } from './format.js';

export interface Change {
  op: 'added' | 'removed' | 'changed';
  path: string;
  before?: unknown;
  after?: unknown;
}

/** Changes listed at most; the rest are counted. */
export const MAX_CHANGES = 1000;
/** Characters of a value shown in a change. */
const VALUE_CHARS = 2000;

/** The JSON Pointer (RFC 6901) of `key` under `parent`: `~` written `~0`, `/` written `~1`. */
export const pointer = (parent: string, key: string) => `${parent}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export function diff(before: unknown, after: unknown, path = '', out: Change[] = []): Change[] {
  if (Array.isArray(before) && Array.isArray(after)) {
    // Stryker disable next-line MethodExpression: past the shorter array one side is undefined, which the last branch below words as added or removed alike.
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

export const SIGN: Readonly<Record<Change['op'], string>> = { added: '+', removed: '−', changed: '~' };

/** One change as a line shows it: its sign, where, and the value(s), before then after. */
export interface ChangeLine {
  op: Change['op'];
  sign: string;
  path: string;
  /** The pointer as shown: the root's empty pointer in words. */
  where: string;
  values: string[];
}

export interface DiffText {
  /** `3 changes: 1 added, 1 removed, 1 changed`, or that the versions hold the same state. */
  summary: string;
  /** The first MAX_CHANGES changes. */
  lines: ChangeLine[];
  /** `… 12 more changes` past them. */
  more: string | undefined;
}

export function diffText(changes: readonly Change[]): DiffText {
  if (changes.length === 0) return { summary: 'The two versions hold the same state.', lines: [], more: undefined };
  const counts = (['added', 'removed', 'changed'] as const).map((op) => [op, changes.filter((c) => c.op === op).length] as const).filter(([, n]) => n > 0);
  const value = (v: unknown) => jsonText(v, VALUE_CHARS);
  return {
    summary: `${plural(changes.length, 'change')}: ${counts.map(([op, n]) => `${n} ${op}`).join(', ')}`,
    lines: changes.slice(0, MAX_CHANGES).map((change) => ({
      op: change.op,
      sign: SIGN[change.op],
      path: change.path,
      where: change.path || '(the whole state)',
      values: change.op === 'changed' ? [value(change.before), value(change.after)] : [value(change.op === 'added' ? change.after : change.before)],
    })),
    more: changes.length > MAX_CHANGES ? `… ${changes.length - MAX_CHANGES} more changes` : undefined,
  };
}
