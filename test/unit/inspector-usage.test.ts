import { describe, expect, it } from 'vitest';
import { costText, modelCostText, modelsCaption, sessionTotals, turnUsageLine, usageByModel, usageLine } from '../../inspector/src/usage.js';

// The inspector's usage and cost (docs/guide.md, Usage and cost): the session's totals are the server's;
// per model they are added up over the turns loaded; a cost is what the workers reported with each turn
// (`cost_usd`, docs/API.md, Turns), and one not reported shows as "not reported", never as free.

const large = (input: number, output: number, cost?: number) => ({ model: 'm-large', input_tokens: input, output_tokens: output, ...(cost === undefined ? {} : { cost_usd: cost }) });
const small = (input: number, output: number, cost?: number) => ({ model: 'm-small', input_tokens: input, output_tokens: output, ...(cost === undefined ? {} : { cost_usd: cost }) });

describe('one turn\'s usage in a line', () => {
  it('adds its models up, with the cost when every model reported one', () => {
    expect(turnUsageLine([large(1200, 80, 0.0042), small(300, 20, 0.0001)])).toBe('1,500 in · 100 out tokens · $0.0043');
    expect(turnUsageLine([large(1200, 80, 0.0042)])).toBe('1,200 in · 80 out tokens · $0.0042');
  });

  it('leaves the cost out, rather than show part of it, when a model reported none', () => {
    expect(turnUsageLine([large(1200, 80, 0.0042), small(300, 20)])).toBe('1,500 in · 100 out tokens');
    expect(turnUsageLine([small(300, 20)])).toBe('300 in · 20 out tokens');
    expect(turnUsageLine([])).toBe('0 in · 0 out tokens');
  });

  it('shows a cost reported as zero as zero', () => {
    expect(turnUsageLine([large(10, 1, 0)])).toBe('10 in · 1 out tokens · $0.00');
    expect(usageLine(1, 2, 0)).toBe('1 in · 2 out tokens · $0.00');
    expect(usageLine(1234567, 0, undefined)).toBe('1,234,567 in · 0 out tokens');
  });

  it('says "not reported" for a model\'s cost in a turn that gave none', () => {
    expect(costText(undefined)).toBe('not reported');
    expect(costText(0)).toBe('$0.00');
    expect(costText(12.5)).toBe('$12.50');
  });
});

describe('usage per model over the turns loaded', () => {
  const turns = [{ usage: [large(1200, 80, 0.0042), small(300, 20, 0.0001)] }, { usage: [large(1000, 120)] }, { usage: [] }, { usage: [small(50, 5, 0.00002)] }];

  it('adds up tokens, turns and the costs reported, per model, in the order models first appear', () => {
    const models = usageByModel(turns);
    expect([...models.keys()]).toEqual(['m-large', 'm-small']);
    expect(models.get('m-large')).toEqual({ input_tokens: 2200, output_tokens: 200, cost_usd: 0.0042, turns: 2, costed_turns: 1 });
    expect(models.get('m-small')).toEqual({ input_tokens: 350, output_tokens: 25, cost_usd: expect.closeTo(0.00012, 12), turns: 2, costed_turns: 2 });
    expect(usageByModel([]).size).toBe(0);
  });

  it('shows a model\'s cost whole when every turn reported it, else what was reported and that the rest was not', () => {
    const models = usageByModel(turns);
    expect(modelCostText(models.get('m-small')!)).toBe('$0.00012');
    expect(modelCostText(models.get('m-large')!)).toBe('$0.0042 + not reported');
  });

  it('never shows a model whose turns reported no cost as free', () => {
    const models = usageByModel([{ usage: [large(10, 1)] }, { usage: [large(20, 2)] }]);
    expect(models.get('m-large')).toEqual({ input_tokens: 30, output_tokens: 3, cost_usd: 0, turns: 2, costed_turns: 0 });
    expect(modelCostText(models.get('m-large')!)).toBe('not reported');
    // A cost reported as zero is a cost: free, as the worker said.
    expect(modelCostText(usageByModel([{ usage: [large(10, 1, 0)] }]).get('m-large')!)).toBe('$0.00');
    expect(modelCostText(usageByModel([{ usage: [large(10, 1, 0)] }, { usage: [large(10, 1)] }]).get('m-large')!)).toBe('$0.00 + not reported');
  });

  it('says whether the table covers every turn or only those loaded', () => {
    expect(modelsCaption(3, 3)).toBe('By model, over every turn (3)');
    expect(modelsCaption(2, 1500)).toBe('By model, over the 2 turns in the history loaded (of 1,500)');
    // The history can be ahead of the record it was read with.
    expect(modelsCaption(4, 3)).toBe('By model, over every turn (3)');
  });
});

describe('the session\'s totals', () => {
  it('are the server\'s, term by term', () => {
    expect(sessionTotals({ turns: 1234, input_tokens: 1_500_000, output_tokens: 100, cost_usd: 1.5 })).toEqual([
      ['turns', '1,234'],
      ['input tokens', '1,500,000'],
      ['output tokens', '100'],
      ['cost', '$1.50'],
    ]);
  });

  it('are none before the first turn', () => {
    expect(sessionTotals({ turns: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 })).toBeUndefined();
  });
});
