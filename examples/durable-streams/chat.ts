// A Durable Streams client (the protocol's own TypeScript client, not this
// project's) writing and reading a session's history: an agent appends the
// turns of a chat with an idempotent producer and closes the stream; a reader
// catches up from the start. Any other Durable Streams client (Python, Go, ...)
// does the same over the same HTTP.
//
//   npx tsx examples/durable-streams/chat.ts http://127.0.0.1:8080
import { DurableStream, IdempotentProducer, stream } from '@durable-streams/client';

const server = process.argv[2] ?? 'http://127.0.0.1:8080';
const url = `${server}/v1/stream/examples/chat-${Date.now()}`;

const handle = await DurableStream.create({ url, contentType: 'application/json' });
// Exactly once, even if a request is retried: the server keeps this producer's epoch and sequence.
const producer = new IdempotentProducer(handle, 'agent-1', { autoClaim: true });
// On a JSON stream each append is one message: JSON text.
producer.append(JSON.stringify({ role: 'user', text: 'What is 6 x 7?' }));
producer.append(JSON.stringify({ role: 'assistant', text: '42' }));
// Sends what is pending, then closes the stream: readers then know the chat is over.
await producer.close();

const read = await stream<{ role: string; text: string }>({ url, offset: '-1', live: false });
for (const message of await read.json()) console.log(`${message.role}: ${message.text}`);
console.log(`closed: ${read.streamClosed}`);
