/**
 * Usage and cost in words: one turn's, one model's over the turns loaded,
 * the session's totals. Costs are what workers reported with each turn
 * (`cost_usd`, docs/API.md, Turns): the server knows no prices, so a cost
 * not reported is said so, never shown as free. No DOM.
 */
import { count, usd } from './format.js';

/** One model's usage in one turn, as `turn.committed` carries it. */
export interface TurnUsage {
  model: string;
  input_tokens: number;
  output_tokens: number;
  cost_usd?: number;
}

/** Usage totals of one model. */
export interface ModelUsage {
  input_tokens: number;
  output_tokens: number;
  /** The sum of the costs reported. */
  cost_usd: number;
  turns: number;
  /** The turns that said what it cost. */
  costed_turns: number;
}

/** The session's totals as the server keeps them (`usage` on the session). */
export interface SessionUsage {
  turns: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

/** Words for a cost no worker reported. */
export const NOT_REPORTED = 'not reported';

/** `1,200 in · 80 out tokens · $0.0042`: one turn's or one session's usage in a line (no cost when one is missing). */
export function usageLine(input: number, output: number, cost: number | undefined): string {
  return `${count(input)} in · ${count(output)} out tokens${cost === undefined ? '' : ` · ${usd(cost)}`}`;
}

/** One turn's usage over its models: the cost only when every model's was reported. */
export function turnUsageLine(usage: readonly TurnUsage[]): string {
  const costed = usage.length > 0 && usage.every((u) => u.cost_usd !== undefined);
  const cost = costed ? usage.reduce((sum, u) => sum + u.cost_usd!, 0) : undefined;
  const input = usage.reduce((sum, u) => sum + u.input_tokens, 0);
  const output = usage.reduce((sum, u) => sum + u.output_tokens, 0);
  return usageLine(input, output, cost);
}

/** One model's cost in one turn. */
export function costText(cost: number | undefined): string {
  return cost === undefined ? NOT_REPORTED : usd(cost);
}

/** Usage per model over `turns`, in the order models first appear. */
export function usageByModel(turns: readonly { usage: readonly TurnUsage[] }[]): Map<string, ModelUsage> {
  const models = new Map<string, ModelUsage>();
  for (const turn of turns) {
    for (const usage of turn.usage) {
      const total = models.get(usage.model) ?? { input_tokens: 0, output_tokens: 0, cost_usd: 0, turns: 0, costed_turns: 0 };
      total.input_tokens += usage.input_tokens;
      total.output_tokens += usage.output_tokens;
      total.turns += 1;
      if (usage.cost_usd !== undefined) {
        total.cost_usd += usage.cost_usd;
        total.costed_turns += 1;
      }
      models.set(usage.model, total);
    }
  }
  return models;
}

/** One model's cost over the turns: the sum reported, and that some was not; a model whose turns reported none is not shown as free. */
export function modelCostText(usage: ModelUsage): string {
  if (usage.costed_turns === 0) return NOT_REPORTED;
  return usage.costed_turns === usage.turns ? usd(usage.cost_usd) : `${usd(usage.cost_usd)} + ${NOT_REPORTED}`;
}

/** The per-model table's caption: over every turn, or over those loaded of how many. */
export function modelsCaption(loaded: number, turns: number): string {
  const over = loaded >= turns ? `every turn (${count(turns)})` : `the ${count(loaded)} turns in the history loaded (of ${count(turns)})`;
  return `By model, over ${over}`;
}

/** The session's totals, term and value, or undefined before its first turn. */
export function sessionTotals(usage: SessionUsage): [string, string][] | undefined {
  if (usage.turns === 0) return undefined;
  return [
    ['turns', count(usage.turns)],
    ['input tokens', count(usage.input_tokens)],
    ['output tokens', count(usage.output_tokens)],
    ['cost', usd(usage.cost_usd)],
  ];
}
