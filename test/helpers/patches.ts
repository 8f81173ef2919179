import { execFileSync } from 'node:child_process';
import { readdirSync, realpathSync } from 'node:fs';
import path from 'node:path';

/**
 * Throws unless node_modules holds every patch in patches/ exactly as it is
 * now. patch-package applies them only when packages are installed, so a
 * node_modules installed before a branch changed a patch keeps the old one,
 * and the server silently loses what the new one fixes: a failover then hung
 * (writes and /readyz waiting forever for an acceptable host) instead of
 * answering 503. A patch that still applies in reverse is fully applied.
 * It is checked where node_modules really is: git apply refuses a path beyond
 * a symbolic link, and a worktree's node_modules is often one to the main
 * checkout's.
 */
export function assertPatchesApplied(root = process.cwd()): void {
  const installed = path.dirname(realpathSync(path.join(root, 'node_modules')));
  const stale = readdirSync(path.join(root, 'patches'))
    .filter((name) => name.endsWith('.patch'))
    .filter((name) => {
      try {
        execFileSync('git', ['apply', '--check', '--reverse', path.join(root, 'patches', name)], { cwd: installed, stdio: 'pipe' });
        return false;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new Error('checking that patches/ is applied needs git on PATH', { cause: error });
        }
        return true;
      }
    });
  if (stale.length > 0) {
    throw new Error(
      `node_modules was installed without the current ${stale.map((name) => `patches/${name}`).join(', ')} ` +
        '(installed before the patch changed?): run `npm ci`, which installs the packages again and applies patches/',
    );
  }
}
