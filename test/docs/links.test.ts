import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import GithubSlugger from 'github-slugger';
import { describe, expect, it } from 'vitest';

// A reader follows links between the docs; one that leads nowhere (a file
// moved, a heading renamed) is found here, not by the reader. Anchors are
// checked against the headings as GitHub names them (github-slugger).
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SKIP = new Set(['node_modules', 'dist', 'reports', '.git', '.data', 'coverage', 'out']);

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIP.has(entry.name)) return [];
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(full);
    return entry.name.endsWith('.md') ? [full] : [];
  });
}

/**
 * Each line's text outside fenced code blocks (CommonMark: up to three spaces, then three or more backticks with no
 * backtick after them, or tildes; closed by a run of the same character at least as long), inline code blanked.
 */
function prose(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split('\n').map((line) => {
    if (fence === undefined) {
      const open = /^ {0,3}(`{3,}(?=[^`]*$)|~{3,})/.exec(line);
      if (open) {
        fence = open[1];
        return '';
      }
      return line.replace(/(`+)[^`]*?\1/g, (code) => ' '.repeat(code.length));
    }
    const close = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    if (close.test(line)) fence = undefined;
    return '';
  });
}

function anchors(markdown: string): Set<string> {
  const slugger = new GithubSlugger();
  const found = new Set<string>();
  const raw = markdown.split('\n');
  prose(markdown).forEach((line, index) => {
    if (line === '' && raw[index] !== '') return; // inside a fence
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(raw[index] ?? '');
    if (heading) found.add(slugger.slug((heading[1] ?? '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')));
  });
  return found;
}

function links(markdown: string): { line: number; target: string }[] {
  return prose(markdown).flatMap((line, index) =>
    [...line.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => ({ line: index + 1, target: m[1] ?? '' })),
  );
}

const files = markdownFiles(ROOT);

describe('links between the docs', () => {
  it('finds the docs', () => {
    const names = files.map((file) => path.relative(ROOT, file));
    expect(names).toEqual(expect.arrayContaining(['README.md', 'docs/API.md', 'docs/guide.md', 'docs/operations.md']));
  });

  for (const file of files) {
    const name = path.relative(ROOT, file);
    it(`${name}: every relative link names a file that exists, and every #anchor one of its headings`, () => {
      const markdown = readFileSync(file, 'utf8');
      const broken: string[] = [];
      for (const { line, target } of links(markdown)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, mailto: and the like
        const [pathPart = '', anchor] = target.split('#', 2);
        const resolved = pathPart === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(pathPart));
        if (!existsSync(resolved)) {
          broken.push(`${name}:${line} ${target}: no such file`);
          continue;
        }
        if (anchor === undefined || anchor === '') continue;
        if (statSync(resolved).isDirectory() || !resolved.endsWith('.md')) {
          broken.push(`${name}:${line} ${target}: an anchor into something that is not a markdown file`);
          continue;
        }
        if (!anchors(readFileSync(resolved, 'utf8')).has(decodeURIComponent(anchor))) {
          broken.push(`${name}:${line} ${target}: no heading #${anchor} in ${path.relative(ROOT, resolved)}`);
        }
      }
      expect(broken).toEqual([]);
    });
  }
});
