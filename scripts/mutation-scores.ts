/**
 * `npm run mutate:scores [-- REPORT...]`: the tables of docs/mutation.md from
 * Stryker's JSON reports (default: every reports/mutation/<scope>/mutation.json).
 * One row per area (a folder of src/, a top-level file, the client) and one
 * per file; a file found in several reports counts from the newest report.
 * The score is Stryker's: killed and timed out over every valid mutant, no
 * coverage included; compile errors and ignored (static, disabled) are not
 * counted.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

type Status = 'Killed' | 'Timeout' | 'Survived' | 'NoCoverage' | 'Ignored' | 'CompileError' | 'RuntimeError' | 'Pending';
interface Report {
  files: Record<string, { mutants: { status: Status }[] }>;
}
const columns = ['Killed', 'Timeout', 'Survived', 'NoCoverage', 'Ignored'] as const;
type Counts = Record<(typeof columns)[number], number>;

const given = process.argv.slice(2);
const reports =
  given.length > 0
    ? given
    : existsSync('reports/mutation')
      ? readdirSync('reports/mutation')
          .map((scope) => path.join('reports/mutation', scope, 'mutation.json'))
          .filter((file) => existsSync(file))
      : [];
if (reports.length === 0) throw new Error('npm run mutate:scores: no mutation.json under reports/mutation (run npm run mutate first)');

// Newest report last, so it wins for a file that several scopes mutated.
reports.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
const perFile = new Map<string, Counts>();
for (const report of reports) {
  const { files } = JSON.parse(readFileSync(report, 'utf8')) as Report;
  for (const [file, { mutants }] of Object.entries(files)) {
    const counts: Counts = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, Ignored: 0 };
    for (const { status } of mutants) if (status in counts) counts[status as keyof Counts] += 1;
    perFile.set(file, counts);
  }
}

const areaOf = (file: string) => {
  const parts = file.split('/');
  if (parts[0] === 'client') return 'client/src';
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : file;
};
const add = (into: Counts, from: Counts) => {
  for (const column of columns) into[column] += from[column];
};
const score = (c: Counts) => {
  const valid = c.Killed + c.Timeout + c.Survived + c.NoCoverage;
  return valid === 0 ? 'n/a' : `${((100 * (c.Killed + c.Timeout)) / valid).toFixed(1)}%`;
};
const row = (name: string, c: Counts) => `| ${name} | ${columns.map((column) => c[column]).join(' | ')} | ${score(c)} |`;

const areas = new Map<string, Counts>();
const total: Counts = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, Ignored: 0 };
for (const [file, counts] of perFile) {
  const area = areas.get(areaOf(file)) ?? { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, Ignored: 0 };
  add(area, counts);
  areas.set(areaOf(file), area);
  add(total, counts);
}
const header = ['| %s | killed | timeout | survived | no cov | ignored | score |', '|---|---|---|---|---|---|---|'];
const byName = <T>(map: Map<string, T>) => [...map].sort(([a], [b]) => a.localeCompare(b));
console.log([header[0]?.replace('%s', 'area'), header[1], ...byName(areas).map(([name, c]) => row(name, c)), row('**total**', total)].join('\n'));
console.log();
console.log([header[0]?.replace('%s', 'file'), header[1], ...byName(perFile).map(([name, c]) => row(name, c))].join('\n'));
