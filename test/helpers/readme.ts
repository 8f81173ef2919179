import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

/**
 * The examples of a doc (README.md, docs/*.md), as test/docs/examples.test.ts
 * runs them. Conventions (also stated in docs/testing.md, "Examples in the docs"):
 * - every ```sh block is run, in order, in one bash session, unless its info
 *   string says `no-run` (commands that start servers or need Docker);
 * - the fenced block right after it (```json, ```text, ```http or a bare ```,
 *   with nothing but blank lines between) is its expected output;
 * - in an expected output `…` stands for any text within one line (times,
 *   generated ids, tokens); for `curl -i` output, the headers shown must be
 *   among those sent, and the status line and body must match.
 */
export interface Example {
  line: number;
  command: string;
  expected?: string;
}

const OUTPUT_LANGS = new Set(['', 'json', 'text', 'http']);

export function readExamples(markdown: string): Example[] {
  const lines = markdown.split('\n');
  const blocks: { line: number; lang: string; flags: string[]; body: string; end: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(.*)$/.exec(lines[i] ?? '');
    if (!open) continue;
    const [lang = '', ...flags] = (open[1] ?? '').trim().split(/\s+/);
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i] ?? '');
    blocks.push({ line: start + 1, lang, flags, body: body.join('\n'), end: i });
  }
  const examples: Example[] = [];
  blocks.forEach((block, index) => {
    if (block.lang !== 'sh' || block.flags.includes('no-run')) return;
    const next = blocks[index + 1];
    const adjacent =
      next !== undefined &&
      OUTPUT_LANGS.has(next.lang) &&
      lines.slice(block.end + 1, next.line - 1).every((line) => line.trim() === '');
    examples.push({ line: block.line, command: block.body, ...(adjacent ? { expected: next.body } : {}) });
  });
  return examples;
}

function lineMatcher(expected: string): RegExp {
  const parts = expected.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`);
}

function linesMatch(expected: string[], actual: string[]): boolean {
  return expected.length === actual.length && expected.every((line, i) => lineMatcher(line).test(actual[i] ?? ''));
}

/** Null when `actual` is what `expected` shows; otherwise why not. */
export function mismatch(expected: string, actual: string): string | null {
  const want = expected.trimEnd().split('\n').map((l) => l.trimEnd());
  const got = actual.replace(/\r\n/g, '\n').trimEnd().split('\n').map((l) => l.trimEnd());
  if (!want[0]?.startsWith('HTTP/')) {
    return linesMatch(want, got) ? null : 'output differs';
  }
  const split = (ls: string[]) => {
    const blank = ls.indexOf('');
    return blank === -1 ? { head: ls, body: [] } : { head: ls.slice(0, blank), body: ls.slice(blank + 1) };
  };
  const w = split(want);
  const g = split(got);
  if (!lineMatcher(w.head[0] ?? '').test(g.head[0] ?? '')) return 'status line differs';
  for (const header of w.head.slice(1)) {
    const name = header.slice(0, header.indexOf(':')).toLowerCase();
    const sent = g.head.slice(1).filter((h) => h.toLowerCase().startsWith(`${name}:`));
    const value = lineMatcher(header.slice(name.length + 1).trim());
    if (!sent.some((h) => value.test(h.slice(name.length + 1).trim()))) return `header "${header}" not sent`;
  }
  return linesMatch(w.body, g.body) ? null : 'body differs';
}

/** One bash process that runs examples in order, so variables carry over. */
export class Shell {
  private readonly bash: ChildProcessWithoutNullStreams;
  private stdout = '';
  private stderr = '';
  private count = 0;

  constructor(env: Record<string, string>) {
    this.bash = spawn('bash', ['--noprofile', '--norc'], { env: { ...process.env, ...env } });
    this.bash.stdout.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.bash.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
  }

  /** Runs a block; resolves with what it printed and the exit status of its last command. */
  async run(command: string, timeoutMs = 20_000): Promise<{ stdout: string; stderr: string; status: number }> {
    const marker = `__readme_example_${++this.count}__`;
    this.stdout = '';
    this.stderr = '';
    // A block's output may lack a final newline (curl -s); the marker goes on a line of its own.
    this.bash.stdin.write(`${command}\n__status=$?; printf '\\n${marker} %d\\n' "$__status"\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.stdout.indexOf(`\n${marker} `);
      if (at !== -1 && this.stdout.indexOf('\n', at + 1 + marker.length) !== -1) {
        const status = Number(this.stdout.slice(at + marker.length + 2).trim());
        return { stdout: this.stdout.slice(0, at), stderr: this.stderr, status };
      }
      if (Date.now() > deadline) throw new Error(`example did not finish in ${timeoutMs} ms:\n${command}\n${this.stdout}${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  close(): void {
    this.bash.kill();
  }
}

/** The output block of an example whose output is yet to be filled in (README_FILL=1). */
export const PLACEHOLDER = 'PLACEHOLDER';

/** Replaces what differs from run to run (times, generated ids, secrets) with `…`. */
export function mask(output: string): string {
  return output
    .replace(/\r\n/g, '\n')
    .trimEnd()
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '…')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '…')
    .replace(/"token":"[^"]+"/g, '"token":"…"')
    .replace(/^(date|content-length|connection|keep-alive): .*(\n|$)/gim, '')
    .trimEnd();
}
