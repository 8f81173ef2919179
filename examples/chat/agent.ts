/**
 * What the chat page and its worker agree on: which sessions are this agent's,
 * what one input looks like, and the shape of the state the worker keeps.
 */

/** Sessions made by the page carry `metadata.agent` = this; the worker answers those only. */
export const AGENT = 'chat-example';

/** One queued input, as the page enqueues it (`items: [{ text }]`). */
export interface ChatInput {
  text: string;
}

/** The agent's state: what it remembers between turns (the conversation itself is in the messages). */
export interface ChatState {
  turns: number;
  words_heard: number;
  last_tool: { name: string; input: string; output: number } | null;
}

/** The text of a batch's items (anything else a client queued is shown as JSON). */
export function inputText(items: readonly unknown[]): string {
  return items
    .map((item) => (typeof item === 'object' && item !== null && 'text' in item && typeof item.text === 'string' ? item.text : JSON.stringify(item)))
    .join('\n');
}
