import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { RESERVED_PREFIXES, SERVER_EVENT_TYPES } from '../../src/events/types.js';

const src = new URL('../../src/', import.meta.url);
const RESERVED_LITERAL = new RegExp(`'((?:${RESERVED_PREFIXES.map((p) => p.replace('.', '\\.')).join('|')})[a-z_.]+)'`, 'g');

/** Reserved type names written as literals in the files of src/ that `filter` takes. */
async function literalsIn(filter: (path: string) => boolean): Promise<Set<string>> {
  const found = new Set<string>();
  for (const entry of await readdir(src, { recursive: true })) {
    if (!entry.endsWith('.ts') || !filter(entry)) continue;
    const text = await readFile(new URL(entry, src), 'utf8');
    for (const match of text.matchAll(RESERVED_LITERAL)) found.add(match[1] as string);
  }
  return found;
}

// An import takes exactly the reserved types the server stores (issue 24, defect 6):
// a type the server starts writing must be listed, or its sessions' exports no longer import.
describe('SERVER_EVENT_TYPES', () => {
  it('lists every reserved type the server code writes, and no other', async () => {
    const written = await literalsIn((path) => !path.startsWith('stream/') && path !== 'events/types.ts' && path !== 'history/import-file.ts');
    expect([...SERVER_EVENT_TYPES].sort()).toEqual([...written].sort());
  });

  it('holds none of the types that are only ever live frames (streams and the changes feed)', async () => {
    const frames = await literalsIn((path) => path.startsWith('stream/'));
    expect(frames).toContain('session.deleted');
    expect([...frames].filter((type) => SERVER_EVENT_TYPES.has(type))).toEqual([]);
  });
});
