import { existsSync, lstatSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CheckoutCopy {
  /** The copy's root, to run npm scripts in. */
  dir: string;
  remove(): Promise<void>;
}

/**
 * The checkout as a fresh clone after `npm ci` has it, in a temporary
 * directory: every file but those .gitignore keeps out of git (so no dist/,
 * client/dist, .pack or .data), and a node_modules whose entries link to the
 * checkout's, but for the workspaces' links, which point into the copy.
 *
 * For the tests that prove a build command (`npm run example`, `npm run
 * pack:client`): run in the checkout, they would rewrite its build outputs
 * while other test files run beside them, and tsc rewrites a file by
 * truncating it first, so a reader there (the guide's `npm run
 * example:worker`, another test's `npm pack`) could load an empty module.
 */
export async function copyCheckout(): Promise<CheckoutCopy> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'session-sync-checkout-'));
  try {
    const ignored = await gitignored();
    await cp(ROOT, dir, {
      recursive: true,
      filter: (source) => {
        const relative = path.relative(ROOT, source).split(path.sep).join('/');
        return relative === '' || (relative !== '.git' && !ignored(relative, lstatSync(source).isDirectory()));
      },
    });
    await linkModules(dir);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Whether .gitignore keeps a path (relative, with /) out of git, by the
 * pattern forms it uses: a name or glob matching at any depth, one with a
 * slash inside it matching from the root, a trailing slash for directories only.
 */
async function gitignored(): Promise<(relative: string, isDirectory: boolean) => boolean> {
  const lines = (await readFile(path.join(ROOT, '.gitignore'), 'utf8')).split('\n').map((line) => line.trim());
  const rules = lines
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      // A negation would make a copy keep what this reading leaves out: teach it the form before using it.
      if (line.startsWith('!')) throw new Error(`.gitignore: "${line}": copyCheckout does not read negations`);
      const directoryOnly = line.endsWith('/');
      const pattern = line.replace(/\/$/, '');
      const anchored = pattern.includes('/');
      const glob = pattern.replace(/^\//, '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
      return { directoryOnly, anchored, match: new RegExp(`^${glob}$`) };
    });
  return (relative, isDirectory) =>
    rules.some((rule) => (!rule.directoryOnly || isDirectory) && rule.match.test(rule.anchored ? relative : path.posix.basename(relative)));
}

/** node_modules as npm ci leaves it, every entry a link to the checkout's; the workspaces' own links go to the copy's folders. */
async function linkModules(dir: string): Promise<void> {
  const modules = path.join(ROOT, 'node_modules');
  const { workspaces = [] } = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { workspaces?: string[] };
  const own = new Map<string, string>();
  for (const workspace of workspaces) {
    const { name } = JSON.parse(await readFile(path.join(ROOT, workspace, 'package.json'), 'utf8')) as { name: string };
    own.set(name, path.join(dir, workspace));
    if (existsSync(path.join(ROOT, workspace, 'node_modules'))) await symlink(path.join(ROOT, workspace, 'node_modules'), path.join(dir, workspace, 'node_modules'));
  }
  const link = (name: string) => symlink(own.get(name) ?? path.join(modules, name), path.join(dir, 'node_modules', name));
  await mkdir(path.join(dir, 'node_modules'));
  for (const entry of await readdir(modules)) {
    if (![...own.keys()].some((name) => name.startsWith(`${entry}/`))) {
      await link(entry);
      continue;
    }
    // A scope holding a workspace: its own folder, so the workspace's link can differ from the checkout's.
    await mkdir(path.join(dir, 'node_modules', entry));
    for (const name of await readdir(path.join(modules, entry))) await link(`${entry}/${name}`);
  }
}
