import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

// docs/operations.md's configuration table is what operators read; src/config.ts is what the server does.
// This keeps the two one: the same variables, and the defaults the table shows are the server's.
const markdown = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
const section = markdown.slice(markdown.indexOf('\n## Configuration\n'), markdown.indexOf('\n## ', markdown.indexOf('\n## Configuration\n') + 1));
const rows = [...section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| ([^|]*) \|/gm)].map((m) => ({ name: m[1] ?? '', shown: (m[2] ?? '').trim() }));

/** The default a row shows: its first value in backticks that is not another variable's name (`half of `DB_POOL_MAX` (`5`)`: 5). */
function shownDefault(cell: string): string | undefined {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '').find((value) => !/^[A-Z][A-Z0-9_]*$/.test(value));
}

describe('docs/operations.md, Configuration', () => {
  it('lists every variable src/config.ts reads, and no other', () => {
    const read = new Set<string>();
    loadConfig(new Proxy({}, { get: (_target, name) => (typeof name === 'string' && read.add(name), undefined) }));
    expect(rows.map((row) => row.name).sort()).toEqual([...read].sort());
  });

  it('shows the defaults the server really uses', () => {
    const defaults = loadConfig({});
    const checked = rows.filter((row) => !row.shown.startsWith('unset'));
    expect(checked.length).toBeGreaterThan(30);
    for (const { name, shown } of checked) {
      const value = shownDefault(shown);
      expect(value, `${name}: no default in "${shown}"`).toBeDefined();
      expect(loadConfig({ [name]: value }), `${name} set to the default shown, ${value}`).toEqual(defaults);
    }
  });

  it('says "unset" only of variables the server has no value for', () => {
    const unset = rows.filter((row) => row.shown.startsWith('unset')).map((row) => row.name);
    expect(unset.sort()).toEqual(['AUTH_SECRET', 'CORS_ORIGINS', 'DATABASE_URL', 'HISTORY_MAX_AGE_MS', 'HISTORY_MAX_EVENTS']);
    const defaults = loadConfig({});
    expect([defaults.authSecret, defaults.databaseUrl, defaults.history.maxAgeMs, defaults.history.maxEvents]).toEqual([undefined, undefined, undefined, undefined]);
    expect(defaults.corsOrigins).toEqual([]);
  });
});
