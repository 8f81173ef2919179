import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { mask, mismatch, PLACEHOLDER, readExamples, Shell } from '../helpers/readme.js';

// The examples of every doc are run against a real server, in order, in one
// shell per file, and each output must be what the doc shows (see
// test/helpers/readme.ts). Each file gets a server (and database) of its own,
// so a file's examples may build on its earlier ones, never on another file's.
// Writing a new example: put PLACEHOLDER as its output block and run this file
// with README_FILL=1; the real output (times, ids and tokens masked) is filled in.
const ROOT = new URL('../../', import.meta.url);
const DOC_ADDRESS = '127.0.0.1:8080';
const fill = process.env.README_FILL === '1';

/** The docs whose `sh` blocks are run: the README, everything in docs/, and the benchmarks' README. */
const DOCS = [
  'README.md',
  ...readdirSync(new URL('docs/', ROOT))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
  'bench/README.md',
];

it('runs the README and the guide, which hold most examples', () => {
  const counts = new Map(DOCS.map((file) => [file, readExamples(readFileSync(new URL(file, ROOT), 'utf8')).length]));
  expect(counts.get('README.md')).toBeGreaterThan(0);
  expect(counts.get('docs/guide.md')).toBeGreaterThan(30);
});

for (const file of DOCS) {
  const url = new URL(file, ROOT);
  const markdown = readFileSync(url, 'utf8');
  const examples = readExamples(markdown);
  if (examples.length === 0) continue;

  describe(`${file} examples`, () => {
    let server: TestApp;
    let shell: Shell;
    let address: string;
    const filled = new Map<string, string>();

    beforeAll(async () => {
      server = await createTestApp();
      address = new URL(await server.listen()).host;
      shell = new Shell({ PATH: process.env.PATH ?? '' });
    });
    afterAll(async () => {
      shell?.close();
      await server?.close();
      if (fill && filled.size > 0) {
        let text = markdown;
        for (const [command, output] of filled) {
          text = text.replace(new RegExp(`(${escape(command)}\\n\`\`\`\\n\`\`\`\\w*\\n)${PLACEHOLDER}\\n`), (_m, head: string) => `${head}${output}\n`);
        }
        writeFileSync(url, text);
      }
    });

    for (const example of examples) {
      it(`${file}:${example.line} ${example.command.split('\n').find((l) => !l.startsWith('#'))?.slice(0, 60)}`, async () => {
        const result = await shell.run(example.command.replaceAll(DOC_ADDRESS, address));
        const printed = result.stdout.replaceAll(address, DOC_ADDRESS);
        expect(result.status, `exit status; stderr: ${result.stderr}`).toBe(0);
        if (example.expected === undefined) return;
        if (fill && example.expected === PLACEHOLDER) {
          filled.set(example.command, mask(printed));
          return;
        }
        const why = mismatch(example.expected, printed);
        if (why !== null) expect.fail(`${why}\n--- ${file} shows:\n${example.expected}\n--- the server printed:\n${printed}`);
      });
    }
  });
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
