import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// Every SQL statement is a named function in its feature's statements.ts (docs/architecture.md, "SQL"): a statement sent
// from anywhere else is one a reader cannot find by name, and one the next change to its table can miss.
const SRC = path.resolve(import.meta.dirname, '../../src');
/** Where SQL text may be: the statement modules, the clock's fragments, the schema and the migration runner. */
const OWNERS = /(^|\/)statements\.ts$|^db\/(clock|schema|migrate)\.ts$/;
/** A postgres.js statement: a tagged template on a handle (`pg`, `tx`, `db`, `sql`, `this.pg`, ...), or `unsafe(`. */
const STATEMENT = /(?:\b(?:pg|tx|db|sql|pool|listener|client|reserved)|\bthis\.\w+)(?:<[^`]*?>)?`|\.unsafe\(/g;
/** Comments name handles in backticks (`db | tx`): they are blanked first, lines kept. */
const withoutComments = (text: string) =>
  text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/\/\/[^\n]*/g, '');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('where SQL is written', () => {
  it('only statement modules send statements', () => {
    const strays = sources(SRC)
      .map((file) => path.relative(SRC, file))
      .filter((file) => !OWNERS.test(file))
      .flatMap((file) => {
        const text = withoutComments(readFileSync(path.join(SRC, file), 'utf8'));
        return [...text.matchAll(STATEMENT)].map((m) => `${file}:${text.slice(0, m.index).split('\n').length}: ${m[0]}`);
      });
    expect(strays).toEqual([]);
  });

  it('finds a statement written outside them', () => {
    expect('await tx`select 1`'.match(STATEMENT)).not.toBeNull();
    expect('await this.pg<{ id: string }[]>`select 1`'.match(STATEMENT)).not.toBeNull();
    expect('pg.unsafe(text)'.match(STATEMENT)).not.toBeNull();
  });
});
