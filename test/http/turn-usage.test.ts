import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { importCopy } from '../helpers/export-file.js';

// Issue 24, defect 11: a session's usage totals stay within what the API
// accepts (2^53-1 tokens, cost_usd alike), so its own export always imports.
let t: TestApp;
let counter = 0;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const MAX = Number.MAX_SAFE_INTEGER;
const turn = (id: string, turnId: string, usage: unknown[]) => call(t.app, 'POST', `/v1/sessions/${id}/turns`, { turn_id: turnId, usage });
const usage = async (id: string) => (await call(t.app, 'GET', `/v1/sessions/${id}`)).json().usage;
const lastSeq = async (id: string) => (await call(t.app, 'GET', `/v1/sessions/${id}`)).json().last_seq;

async function exportImports(id: string): Promise<void> {
  const copy = await importCopy(t, id);
  expect(copy.usage).toEqual(await usage(id));
}

describe('usage totals', () => {
  const cases: [name: string, first: unknown[], second: unknown[], field: string][] = [
    ['input_tokens over two turns', [{ model: 'm', input_tokens: MAX, output_tokens: 0 }], [{ model: 'm', input_tokens: MAX, output_tokens: 0 }], 'input_tokens'],
    ['output_tokens over two turns', [{ model: 'm', input_tokens: 0, output_tokens: MAX - 1 }], [{ model: 'm', input_tokens: 0, output_tokens: 2 }], 'output_tokens'],
    ['input_tokens within one turn', [], [{ model: 'a', input_tokens: MAX, output_tokens: 0 }, { model: 'b', input_tokens: 1, output_tokens: 0 }], 'input_tokens'],
  ];
  for (const [name, first, second, field] of cases) {
    it(`a turn that would take ${name} past 2^53-1 is 409 usage_overflow and changes nothing`, async () => {
      const id = await createSession(t, `usage-${++counter}`);
      expect((await turn(id, 'first', first)).statusCode).toBe(201);
      const before = { usage: await usage(id), last_seq: await lastSeq(id) };
      const problem = expectProblem(await turn(id, 'second', second), 409, 'usage_overflow');
      expect(problem).toMatchObject({ part: 'usage', field, limit: MAX });
      expect({ usage: await usage(id), last_seq: await lastSeq(id) }).toEqual(before);
      // The turn_id stays free, and the session's own export imports.
      expect((await turn(id, 'second', [])).statusCode).toBe(201);
      await exportImports(id);
    });
  }

  it('a total exactly at 2^53-1 is accepted', async () => {
    const id = await createSession(t, `usage-${++counter}`);
    expect((await turn(id, 'a', [{ model: 'm', input_tokens: MAX - 5, output_tokens: MAX }])).statusCode).toBe(201);
    expect((await turn(id, 'b', [{ model: 'm', input_tokens: 5, output_tokens: 0 }])).statusCode).toBe(201);
    expect(await usage(id)).toMatchObject({ input_tokens: MAX, output_tokens: MAX, turns: 2 });
    await exportImports(id);
  });

  it('cost_usd too: a turn that would take the total past 2^53-1 is refused', async () => {
    const id = await createSession(t, `usage-${++counter}`);
    expect((await turn(id, 'a', [{ model: 'm', input_tokens: 0, output_tokens: 0, cost_usd: 0.25 }])).statusCode).toBe(201);
    // Reaching this through the API takes some nine thousand turns at the largest cost one usage item may carry (1e12).
    await t.database.db`update sessions set usage_cost_usd = ${MAX - 1e12 + 1} where id = ${id}`;
    const problem = expectProblem(await turn(id, 'b', [{ model: 'm', input_tokens: 0, output_tokens: 0, cost_usd: 1e12 }]), 409, 'usage_overflow');
    expect(problem).toMatchObject({ part: 'usage', field: 'cost_usd' });
    expect((await usage(id)).cost_usd).toBe(MAX - 1e12 + 1);
    expect((await turn(id, 'b', [{ model: 'm', input_tokens: 0, output_tokens: 0, cost_usd: 1e12 - 1 }])).statusCode).toBe(201);
    await exportImports(id);
  });

  it('cost_usd within one turn: two items that together take the total past 2^53-1 are refused, and nothing changes', async () => {
    const id = await createSession(t, `usage-${++counter}`);
    expect((await turn(id, 'a', [{ model: 'm', input_tokens: 0, output_tokens: 0, cost_usd: 0.25 }])).statusCode).toBe(201);
    // As above: a total this high takes thousands of turns through the API.
    await t.database.db`update sessions set usage_cost_usd = ${MAX - 1e12 + 1} where id = ${id}`;
    const before = { usage: await usage(id), last_seq: await lastSeq(id) };
    // Each item alone fits (6e11 < 1e12 - 1); together they pass the limit.
    const both = [
      { model: 'a', input_tokens: 0, output_tokens: 0, cost_usd: 6e11 },
      { model: 'b', input_tokens: 0, output_tokens: 0, cost_usd: 6e11 },
    ];
    const problem = expectProblem(await turn(id, 'b', both), 409, 'usage_overflow');
    expect(problem).toMatchObject({ part: 'usage', field: 'cost_usd', limit: MAX });
    expect({ usage: await usage(id), last_seq: await lastSeq(id) }).toEqual(before);
    // The turn_id stays free: one item of them commits under it.
    expect((await turn(id, 'b', both.slice(0, 1))).statusCode).toBe(201);
    expect((await usage(id)).cost_usd).toBe(MAX - 1e12 + 1 + 6e11);
    await exportImports(id);
  });
});
