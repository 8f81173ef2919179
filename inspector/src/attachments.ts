/**
 * A session's attachments (oldest first, as the server lists them) with a
 * download button each. The bytes come through the client, so the viewer's
 * token goes with them as with every other request, and are saved, never
 * opened: a file from a worker may be a page meant to run in this origin.
 */
import type { SessionSyncClient } from '@session-sync/client';
import { attachmentsNote, fileName } from './attachment-text.js';
import { fill, h, timeOf } from './dom.js';
import { bytes } from './format.js';
import type { ViewStatus } from './status-view.js';

export type Attachment = Awaited<ReturnType<SessionSyncClient['listAttachments']>>['attachments'][number];

const PAGE = 100;

/**
 * Saves one attachment. The Blob is typed as opaque bytes whatever the file
 * is: its URL is this page's origin, and a file typed text/html there would
 * be a page of the inspector's origin if it were ever opened instead of saved.
 */
export async function download(client: SessionSyncClient, sessionId: string, attachmentId: string, contentType: string | undefined): Promise<void> {
  const response = await client.downloadAttachment(sessionId, attachmentId);
  const blob = new Blob([await response.arrayBuffer()], { type: 'application/octet-stream' });
  const url = URL.createObjectURL(blob);
  const link = h('a', { attrs: { href: url, download: fileName(attachmentId, contentType) } });
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The click has handed the URL to the download by the time the task ends; a minute is far past it.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A button that downloads one attachment and says in place when it cannot. */
export function downloadButton(client: SessionSyncClient, status: ViewStatus, sessionId: string, attachmentId: string, contentType: string | undefined): HTMLElement {
  const note = h('span', { class: 'problem download-problem' });
  const button = h('button', { class: 'small', attrs: { type: 'button', 'data-download': attachmentId } }, 'Download');
  button.addEventListener('click', () => {
    button.disabled = true;
    note.textContent = '';
    download(client, sessionId, attachmentId, contentType)
      .catch((error: unknown) => {
        status.problem('Download', error);
        note.textContent = ' could not be downloaded (see above)';
      })
      .finally(() => {
        button.disabled = false;
      });
  });
  return h('span', { class: 'download' }, button, note);
}

export class AttachmentList {
  readonly element = h('div', { attrs: { id: 'attachments' } });
  private readonly list = h('ul', { class: 'attachments' });
  private readonly note = h('p', { class: 'hint', attrs: { id: 'attachments-status' } });
  private readonly more = h('button', { attrs: { type: 'button', id: 'attachments-more' } }, 'More');
  private readonly shown = new Map<string, HTMLElement>();
  private cursor: string | null = null;
  private reading = false;
  private again = false;

  constructor(
    private readonly client: SessionSyncClient,
    private readonly status: ViewStatus,
    private readonly sessionId: string,
    private readonly isClosed: () => boolean,
  ) {
    this.more.hidden = true;
    this.more.addEventListener('click', () => void this.read(false));
    fill(this.element, this.list, this.note, this.more);
  }

  /** Reads the list from the start again (an upload or commit may have changed any row); keeps reading while asked meanwhile. */
  async refresh(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return;
    }
    await this.read(true);
    if (this.again) {
      this.again = false;
      await this.refresh();
    }
  }

  private async read(fromStart: boolean): Promise<void> {
    this.reading = true;
    this.more.disabled = true;
    try {
      const page = await this.client.listAttachments(this.sessionId, { limit: PAGE, ...(!fromStart && this.cursor ? { cursor: this.cursor } : {}) });
      if (this.isClosed()) return;
      this.status.ok('Attachments');
      if (fromStart) {
        this.shown.clear();
        this.list.replaceChildren();
      }
      for (const attachment of page.attachments) this.put(attachment);
      this.cursor = page.next_cursor;
      this.more.hidden = this.cursor === null;
      this.note.textContent = attachmentsNote(this.shown.size, Boolean(this.cursor));
    } catch (error) {
      if (this.isClosed()) return;
      this.status.problem('Attachments', error);
      this.note.textContent = 'The attachments could not be read (see above).';
    } finally {
      this.reading = false;
      this.more.disabled = false;
    }
  }

  private put(attachment: Attachment): void {
    const row = h(
      'li',
      { class: 'attachment', attrs: { 'data-attachment': attachment.attachment_id } },
      h('code', { class: 'id', attrs: { title: attachment.attachment_id } }, `${attachment.attachment_id.slice(0, 12)}…`),
      ' ',
      h('span', { class: 'content-type' }, attachment.content_type),
      ' · ',
      bytes(attachment.size),
      ' · ',
      attachment.committed ? 'committed' : h('span', { class: 'uncommitted' }, 'not committed (deleted unless a turn commits it)'),
      ' · ',
      timeOf(attachment.created_at),
      ' ',
      downloadButton(this.client, this.status, this.sessionId, attachment.attachment_id, attachment.content_type),
    );
    this.shown.set(attachment.attachment_id, row);
    this.list.append(row);
  }
}
