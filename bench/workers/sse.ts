import http from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface StreamHandle {
  close(): void;
  ended: Promise<void>;
}

/** One SSE stream over a raw socket (no per-stream fetch machinery, so thousands fit in one process). */
export function openStream(url: string, onMessage: (message: EventSourceMessage) => void): StreamHandle {
  const request = http.get(url, { agent: false, headers: { accept: 'text/event-stream' } });
  const ended = new Promise<void>((resolve) => {
    request.on('response', (response) => {
      const parser = createParser({ onEvent: onMessage });
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => parser.feed(chunk));
      response.on('end', resolve);
      response.on('error', () => resolve());
    });
    request.on('error', () => resolve());
    request.on('close', () => resolve());
  });
  return { close: () => request.destroy(), ended };
}
