import { expect } from 'vitest';
import type { TestApp } from './app.js';

/** One line of an export file, parsed: tests edit them freely. */
export type ExportLine = Record<string, any>;

/** The export of session `id`, one parsed record a line. */
export async function exportLines(t: TestApp, id: string): Promise<ExportLine[]> {
  const response = await t.app.inject({ method: 'GET', url: `/v1/sessions/${id}/export` });
  expect(response.statusCode, response.body).toBe(200);
  return response.body.trimEnd().split('\n').map((line) => JSON.parse(line) as ExportLine);
}

const COUNTED: Record<string, string> = {
  snapshot: 'snapshots',
  event: 'events',
  message: 'messages',
  queue_batch: 'queue_batches',
  turn: 'turns',
  producer: 'producers',
  attachment: 'attachments',
};

/**
 * The file's text. The end record's counts are made to agree with the records
 * in it, as a careful forger would, unless `asIs`: then they are what the
 * lines say.
 */
export function exportFile(lines: ExportLine[], asIs = false): string {
  const counts: Record<string, number> = { snapshots: 0, events: 0, messages: 0, queue_batches: 0, turns: 0, producers: 0, attachments: 0 };
  for (const line of lines) {
    const key = COUNTED[line.record];
    if (key) counts[key] = (counts[key] ?? 0) + 1;
  }
  // As the export writes them: producers counted only when there are some.
  if (counts.producers === 0) delete counts.producers;
  const fixed = (line: ExportLine) => (line.record === 'end' && !asIs ? { ...line, counts } : line);
  return lines.map((line) => JSON.stringify(fixed(line))).join('\n') + '\n';
}

/** Exports session `id` and imports the file as `copyId`, as it is: the import's answer (201 checked). */
export async function importCopy(t: TestApp, id: string, copyId = `${id}-copy`): Promise<Record<string, any>> {
  const file = await t.app.inject({ method: 'GET', url: `/v1/sessions/${id}/export` });
  expect(file.statusCode, file.body).toBe(200);
  const copy = await t.app.inject({
    method: 'POST',
    url: `/v1/sessions/import?id=${encodeURIComponent(copyId)}`,
    headers: { 'content-type': 'application/x-ndjson' },
    payload: file.body,
  });
  expect(copy.statusCode, copy.body).toBe(201);
  return copy.json() as Record<string, any>;
}

/** The records of one kind in session `id`'s export. */
export async function exportRecords(t: TestApp, id: string, record: string): Promise<ExportLine[]> {
  return (await exportLines(t, id)).filter((line) => line.record === record);
}
