import { createRequire } from 'node:module';

// The one table both JSON Patch appliers answer to: the server's
// (test/http/json-patch-suite.test.ts, through the API) and the client's
// (test/client/watch-state-patches.test.ts, through watchState). The
// json-patch-tests suite (RFC 6902) and the RFC 7396 appendix A examples.
export interface SuiteCase {
  comment?: string;
  doc: unknown;
  patch: unknown[];
  expected?: unknown;
  error?: string;
  disabled?: boolean;
}

const require = createRequire(import.meta.url);

/** Every enabled json-patch-tests case, named by file and index. */
export const jsonPatchSuite: [string, SuiteCase][] = [
  ...(require('json-patch-test-suite/tests.json') as SuiteCase[]).map((c, i): [string, SuiteCase] => [`tests.json #${i}`, c]),
  ...(require('json-patch-test-suite/spec_tests.json') as SuiteCase[]).map((c, i): [string, SuiteCase] => [`spec_tests.json #${i}`, c]),
].filter(([, c]) => !c.disabled);

/** What a case must give: the resulting document, or undefined when the patch must be refused. */
export const suiteExpectation = (c: SuiteCase): { value: unknown } | undefined =>
  c.error !== undefined ? undefined : { value: 'expected' in c ? c.expected : c.doc };

/** RFC 7396 appendix A: [target, patch, result]. */
export const mergeExamples: [unknown, unknown, unknown][] = [
  [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
  [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
  [{ a: 'b' }, { a: null }, {}],
  [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
  [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
  [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
  [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
  [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
  [['a', 'b'], ['c', 'd'], ['c', 'd']],
  [{ a: 'b' }, ['c'], ['c']],
  [{ a: 'foo' }, null, null],
  [{ a: 'foo' }, 'bar', 'bar'],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: 'b', c: null }, { a: 'b' }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];
