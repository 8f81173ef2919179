/**
 * Each area's own test files: what a developer changing `src/<area>` runs, and
 * what the hand-made audits of docs/mutation.md count catches from.
 * `npm run mutate -- src/<area> --own` runs Stryker with these files only, so
 * every survivor is a bug the area's own files would let through (a lower
 * bound of the whole suite's score, and the audits' measure).
 */
import { existsSync, readdirSync } from 'node:fs';

/** Per area, the test files by name: `http/turns` is test/http/turns.test.ts; a trailing `*` takes every name that starts so. */
export const OWN_TESTS: Record<string, string[]> = {
  activity: ['http/activity*'],
  attachments: ['http/attachments*', 'http/download-readers'],
  auth: ['http/auth*', 'http/route-access', 'unit/tokens', 'unit/token-subject'],
  db: ['db/*'],
  events: ['http/events*'],
  history: ['http/history-*', 'unit/import-file', 'db/history-index'],
  http: [
    'http/ops',
    'http/home',
    'http/hostile-input',
    'http/refused-bodies',
    'http/request-limits',
    'http/request-target',
    'http/query-parsing',
    'http/json-bodies',
    'http/http-cors',
    'unit/validation',
    'unit/errors',
    'unit/json-body',
    'unit/allowed-methods',
    'unit/log-safety',
    'unit/request-target',
    'unit/cursor',
    'unit/transfers',
    'unit/conditional',
  ],
  idempotency: ['http/idempotency-*', 'unit/idempotency-scope'],
  leases: ['http/leases'],
  live: ['http/live*', 'db/live-heads', 'unit/local-signals'],
  messages: ['http/messages', 'db/messages-index'],
  queue: ['http/queue*'],
  sessions: ['http/sessions*', 'http/metadata-limit', 'http/parent-access', 'db/session-insert'],
  state: ['http/state-*', 'http/deltas', 'http/stale-versions', 'http/json-patch-suite', 'unit/json-patch*', 'unit/merge-patch', 'unit/state-cache', 'db/state-storage'],
  stream: ['http/stream-*', 'http/stream', 'unit/sse-*', 'unit/stream-*', 'unit/session-tails-watch', 'db/stream-side'],
  streams: ['http/streams-*', 'unit/streams-*', 'unit/stream-paths', 'conformance/durable-streams'],
  turns: ['http/turns', 'http/turn-usage'],
  wakeups: ['http/wakeup-*', 'db/wakeup-publisher', 'unit/wakeups'],
  writes: ['http/write-*', 'http/group-commit', 'db/write-groups', 'unit/session-queue', 'unit/idempotency-scope'],
};

/**
 * Also the own files of every area with routes: the checks that go route by
 * route over what the routes declare. A route's schemas, summary and
 * responses are published as openapi/openapi.json (and the client's types),
 * checked against the routes by unit/openapi; its `config.access` is checked
 * against docs/API.md by http/route-access. A route's own tests build the app
 * before their first test, so without these a changed schema or access would
 * only be noticed by them where a request happens to cross it.
 */
export const ROUTE_CONTRACT_TESTS = ['unit/openapi', 'http/route-access'];

/** The own test files of the area `path` (a folder or file under src/) is in, or undefined for code no area owns. */
export function ownTestFiles(path: string): string[] | undefined {
  const area = /^src\/([^/]+)\//.exec(`${path.replace(/\/+$/, '')}/`)?.[1];
  const names = area === undefined ? undefined : OWN_TESTS[area];
  if (!names) return undefined;
  const contract = existsSync(`src/${area}/routes.ts`) ? ROUTE_CONTRACT_TESTS.filter((name) => !names.includes(name)) : [];
  return [...names, ...contract].flatMap((name) => {
    const [folder, pattern] = name.split('/') as [string, string];
    const files = readdirSync(`test/${folder}`).filter((file) =>
      pattern.endsWith('*') ? file.startsWith(pattern.slice(0, -1)) && file.endsWith('.test.ts') : file === `${pattern}.test.ts`,
    );
    if (files.length === 0) throw new Error(`own tests of src/${area}: no test/${folder}/${pattern}.test.ts`);
    return files.map((file) => `test/${folder}/${file}`);
  });
}
