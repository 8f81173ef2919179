/**
 * A scripted stand-in for a language model: no network, no key, the same
 * answers for the same conversation, at about a model's pace. Like a real
 * model in an agent loop it is called twice a turn: first it asks for a tool,
 * then, given the tool's result, it writes the reply a token at a time.
 *
 * A real model plugs in here: send `conversation` (and your tools'
 * descriptions) to your provider's streaming API, return the tool call it
 * makes, then yield each text delta of its reply as it arrives; take the
 * token counts from its answer instead of `countTokens`.
 */
export const FAKE_MODEL = 'fake-echo-1';

/** How long the model "thinks" before it asks for a tool, and the pause between two tokens of its reply. */
const THINK_MS = 600;
const TOKEN_MS = 30;

export interface ModelMessage {
  role: 'user' | 'assistant';
  content: string;
}

export interface ToolCall {
  name: 'word_count';
  input: string;
}

/** The first call: the model reads the conversation and asks for a tool. */
export async function fakeToolCall(conversation: readonly ModelMessage[], signal: AbortSignal): Promise<ToolCall> {
  await pause(THINK_MS, signal);
  return { name: 'word_count', input: conversation.at(-1)?.content ?? '' };
}

/** The second call: the reply to the conversation's last message, given the tool's output, token by token. */
export async function* fakeReply(conversation: readonly ModelMessage[], tool: ToolCall & { output: number }, signal: AbortSignal): AsyncGenerator<string> {
  const turn = conversation.filter((message) => message.role === 'user').length;
  const reply =
    `You said: "${tool.input}". That is ${tool.output} word${tool.output === 1 ? '' : 's'}, counted by the ${tool.name} tool, ` +
    `and this is turn ${turn} of our chat. I am a scripted stand-in for a model (examples/chat/model.ts): put a real one there.`;
  for (const token of tokenize(reply)) {
    await pause(TOKEN_MS, signal);
    yield token;
  }
}

/** What this fake model calls a token: a word with the spaces around it. */
export function tokenize(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? [];
}

export function countTokens(messages: readonly ModelMessage[]): number {
  return messages.reduce((sum, message) => sum + tokenize(message.content).length, 0);
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  signal.throwIfAborted();
}
