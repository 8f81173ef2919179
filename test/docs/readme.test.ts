import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { mask, mismatch, PLACEHOLDER, readExamples, Shell } from '../helpers/readme.js';

// The README's examples are run against a real server, in order, in one shell,
// and each output must be what the README shows (see test/helpers/readme.ts).
// Writing a new example: put PLACEHOLDER as its output block and run this file
// with README_FILL=1; the real output (times, ids and tokens masked) is filled in.
const README = new URL('../../README.md', import.meta.url);
const README_ADDRESS = '127.0.0.1:8080';
const markdown = readFileSync(README, 'utf8');
const examples = readExamples(markdown);
const fill = process.env.README_FILL === '1';

describe('README examples', () => {
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
        text = text.replace(`${command}\n\`\`\`\n\`\`\`json\n${PLACEHOLDER}\n`, `${command}\n\`\`\`\n\`\`\`json\n${output}\n`);
        text = text.replace(new RegExp(`(${escape(command)}\\n\`\`\`\\n\`\`\`\\w*\\n)${PLACEHOLDER}\\n`), (_m, head: string) => `${head}${output}\n`);
      }
      writeFileSync(README, text);
    }
  });

  it('has examples to run', () => {
    expect(examples.length).toBeGreaterThan(30);
  });

  for (const example of examples) {
    it(`README.md:${example.line} ${example.command.split('\n').find((l) => !l.startsWith('#'))?.slice(0, 60)}`, async () => {
      const result = await shell.run(example.command.replaceAll(README_ADDRESS, address));
      const printed = result.stdout.replaceAll(address, README_ADDRESS);
      expect(result.status, `exit status; stderr: ${result.stderr}`).toBe(0);
      if (example.expected === undefined) return;
      if (fill && example.expected === PLACEHOLDER) {
        filled.set(example.command, mask(printed));
        return;
      }
      const why = mismatch(example.expected, printed);
      if (why !== null) expect.fail(`${why}\n--- README shows:\n${example.expected}\n--- the server printed:\n${printed}`);
    });
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
