/** What the attachment list says: a download's file name and the line under the list. No DOM. */
import { plural } from './format.js';

/** A file name for the download: the id's start, and an extension for the types a desktop opens by it. */
const EXTENSIONS: Readonly<Record<string, string>> = {
  'text/plain': 'txt',
  'text/markdown': 'md',
  'text/csv': 'csv',
  'text/html': 'html',
  'application/json': 'json',
  'application/pdf': 'pdf',
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/svg+xml': 'svg',
  'audio/mpeg': 'mp3',
  'video/mp4': 'mp4',
};

/** `746fc6af8233d0c8.txt`: the id's first 16 characters and an extension by type (its parameters ignored), `bin` for any other. */
export function fileName(attachmentId: string, contentType: string | undefined): string {
  // Stryker disable next-line StringLiteral: any text the table does not hold gives .bin, as no type does.
  const given = contentType ?? '';
  const type = given.split(';')[0]!.trim();
  // Own properties only: a type named `constructor` or `toString` is no key of the table.
  return `${attachmentId.slice(0, 16)}.${Object.hasOwn(EXTENSIONS, type) ? EXTENSIONS[type] : 'bin'}`;
}

/** Under the list: how many are shown, and whether more are to read. */
export function attachmentsNote(shown: number, more: boolean): string {
  return shown === 0 ? 'No attachments.' : `${plural(shown, 'attachment')}${more ? ' shown; more below' : ''}.`;
}
