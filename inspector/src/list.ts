/**
 * Every session the viewer may read, newest first, live through the changes
 * feed: created sessions appear, deleted ones go, activity and heads update
 * in place. Each row shows what a picker needs: the id, the first user
 * message, the metadata, when it was created. The parent filter is the
 * server's (`parent_id`); the id prefix is applied here, to the pages loaded,
 * and "More" reads on until it finds more. The list has its own status line:
 * a session view's trouble is never shown as the list's.
 */
import type { ChangesFeed, Session } from '@session-sync/client';
import type { Context } from './context.js';
import { fill, h, sessionLink, timeOf } from './dom.js';
import { activityCell, activityOf, type Filters, filtering, firstMessage, listStatus, matches, messageCount, metadataLine, moveTo } from './list-rows.js';
import { ViewStatus } from './status-view.js';
import { debounce } from './timing.js';
import { CHANGE_EVENT } from '@session-sync/client';

const PAGE = 50;
/** Pages read for one "More" while a prefix filter finds nothing in them. */
const MAX_PAGES_PER_CLICK = 20;
interface Row {
  session: Session;
  element: HTMLTableRowElement;
  activity: HTMLTableCellElement;
  version: HTMLTableCellElement;
  seq: HTMLTableCellElement;
  description: HTMLElement;
}

export class SessionList {
  private readonly rows = new Map<string, Row>();
  private readonly body = h('tbody');
  private readonly listStatus = h('p', { class: 'list-status', attrs: { id: 'list-status' } });
  private readonly more = h('button', { attrs: { type: 'button', id: 'list-more' } }, 'More');
  private readonly prefix = h('input', { attrs: { id: 'filter-prefix', type: 'search', placeholder: 'id prefix', spellcheck: 'false' } });
  private readonly parent = h('input', { attrs: { id: 'filter-parent', type: 'search', placeholder: 'parent id', spellcheck: 'false' } });
  private readonly feed: ChangesFeed;
  private nextCursor: string | null = null;
  private pagesLoaded = 0;
  /** Bumped by every reload, so an answer to an older one is dropped. */
  private generation = 0;
  private current: string | undefined;
  private closed = false;
  /** Rows whose first user message is awaited: re-read once their head moves. */
  private readonly rereading = new Map<string, boolean>();
  readonly status: ViewStatus;

  constructor(
    private readonly context: Context,
    root: HTMLElement,
  ) {
    this.status = new ViewStatus(context, 'list', 'Sessions');
    // Up and down arrows move between the sessions' links (Home and End to the ends); Enter opens one.
    this.body.addEventListener('keydown', (event) => this.onKey(event));
    const apply = debounce(() => void this.reload(1), 250);
    this.prefix.addEventListener('input', apply);
    this.parent.addEventListener('input', apply);
    this.more.addEventListener('click', () => void this.loadMore());
    fill(
      root,
      h('h2', null, 'Sessions'),
      this.status.line,
      this.status.problems,
      h('div', { class: 'filters' }, h('label', null, 'Prefix ', this.prefix), h('label', null, 'Parent ', this.parent)),
      h(
        'table',
        { class: 'sessions', attrs: { id: 'sessions' } },
        h('thead', null, h('tr', null, h('th', null, 'session'), h('th', null, 'activity'), h('th', { class: 'num', attrs: { title: 'state version' } }, 'v'), h('th', { class: 'num' }, 'seq'))),
        this.body,
      ),
      this.listStatus,
      this.more,
    );
    this.feed = context.client.watchChanges({
      onSweepRequired: () => void this.reload(Math.max(1, this.pagesLoaded)),
      onChange: (change) => {
        if (change.type === CHANGE_EVENT.created) void this.added(change.session_id);
        else if (change.type === CHANGE_EVENT.deleted) this.removed(change.session_id);
        else if (change.type === CHANGE_EVENT.activity) this.activity(change.session_id, change);
        else if (change.type === CHANGE_EVENT.changed) this.changed(change.session_id, change);
      },
      onStatus: (status) => this.status.stream('feed', status),
      onError: (error) => this.status.stream('feed', 'closed', error),
    });
  }

  close(): void {
    this.closed = true;
    this.feed.close();
    this.status.close();
  }

  private onKey(event: KeyboardEvent): void {
    const links = [...this.body.querySelectorAll<HTMLAnchorElement>('a.session-link')];
    const at = links.indexOf(event.target as HTMLAnchorElement);
    if (at < 0) return;
    const to = moveTo(event.key, at, links.length);
    if (to === undefined) return;
    event.preventDefault();
    links[to]?.focus();
  }

  highlight(id: string | undefined): void {
    this.current = id;
    for (const [rowId, row] of this.rows) {
      row.element.classList.toggle('current', rowId === id);
      const link = row.element.querySelector('a.session-link');
      if (rowId === id) link?.setAttribute('aria-current', 'page');
      else link?.removeAttribute('aria-current');
    }
  }

  private filters(): Filters {
    return { prefix: this.prefix.value, parent: this.parent.value };
  }

  /** Reads the first `pages` pages again (after a sweep: hints may have been missed). */
  private async reload(pages: number): Promise<void> {
    const generation = ++this.generation;
    this.nextCursor = null;
    this.pagesLoaded = 0;
    let fresh: Session[];
    try {
      // As many pages as were shown before (a sweep after a reconnect keeps the viewer's place).
      const found = await this.readPages(generation, PAGE * pages, Math.max(pages, MAX_PAGES_PER_CLICK));
      if (found === undefined) return;
      fresh = found;
    } catch (error) {
      if (generation === this.generation) this.failed(error);
      return;
    }
    if (generation !== this.generation) return;
    this.rows.clear();
    this.body.replaceChildren();
    for (const session of fresh) this.put(session, 'end');
    this.showStatus();
  }

  private async loadMore(): Promise<void> {
    if (this.nextCursor === null) return;
    const generation = this.generation;
    this.more.disabled = true;
    try {
      const found = await this.readPages(generation, PAGE, MAX_PAGES_PER_CLICK);
      if (found === undefined) return;
      for (const session of found) this.put(session, 'end');
      this.showStatus();
    } catch (error) {
      this.failed(error);
    } finally {
      this.more.disabled = false;
    }
  }

  /** Reads on from the cursor until `wanted` sessions match the filters or the list ends; undefined when overtaken by a reload. */
  private async readPages(generation: number, wanted: number, maxPages: number): Promise<Session[] | undefined> {
    const found: Session[] = [];
    const parent = this.parent.value.trim();
    for (let read = 0; read < maxPages && found.length < wanted; read++) {
      const page = await this.context.client.listSessions({
        limit: PAGE,
        ...(this.nextCursor ? { cursor: this.nextCursor } : {}),
        ...(parent ? { parent_id: parent } : {}),
      });
      if (generation !== this.generation || this.closed) return undefined;
      this.status.ok('Sessions');
      this.nextCursor = page.next_cursor;
      this.pagesLoaded += 1;
      found.push(...page.sessions.filter((session) => matches(session, this.filters())));
      if (this.nextCursor === null) break;
    }
    return found;
  }

  private failed(error: unknown): void {
    this.status.problem('Sessions', error);
    this.listStatus.textContent = 'The list could not be read (see above); it is read again when the feed reconnects.';
  }

  private showStatus(): void {
    this.listStatus.textContent = listStatus(this.rows.size, filtering(this.filters()), this.nextCursor !== null);
    this.more.hidden = this.nextCursor === null;
  }

  private put(session: Session, where: 'start' | 'end'): void {
    const existing = this.rows.get(session.id);
    if (existing) {
      existing.session = session;
      this.showDescription(existing);
      this.showActivity(existing);
      existing.version.textContent = String(session.version);
      existing.seq.textContent = String(session.last_seq);
      return;
    }
    const activity = h('td', { class: 'activity' });
    const version = h('td', { class: 'num' }, session.version);
    const seq = h('td', { class: 'num' }, session.last_seq);
    const description = h('div', { class: 'description' });
    const link = sessionLink(session.id);
    link.classList.add('session-link', 'id');
    const element = h(
      'tr',
      { attrs: { 'data-session': session.id } },
      h('td', { class: 'session-cell' }, link, session.parent_id ? h('span', { class: 'parent' }, ` ↳ ${session.parent_id}`) : null, description),
      activity,
      version,
      seq,
    );
    element.classList.toggle('current', session.id === this.current);
    if (session.id === this.current) link.setAttribute('aria-current', 'page');
    const row: Row = { session, element, activity, version, seq, description };
    this.rows.set(session.id, row);
    this.showDescription(row);
    this.showActivity(row);
    if (where === 'start') this.body.prepend(element);
    else this.body.append(element);
  }

  /** What the session is about: its first user message, its metadata, when it was created. */
  private showDescription(row: Row): void {
    const { session } = row;
    const first = firstMessage(session.first_user_message);
    const metadata = metadataLine(session.metadata);
    const messages = messageCount(session.message_count);
    fill(
      row.description,
      first !== undefined ? h('span', { class: 'first-message', attrs: { title: session.first_user_message ?? '' } }, first) : null,
      metadata ? h('span', { class: 'meta-preview', attrs: { title: metadata.title } }, metadata.text) : null,
      h('span', { class: 'when' }, 'created ', timeOf(session.created_at), messages ? h('span', { class: 'counts' }, messages) : null),
    );
  }

  private showActivity(row: Row): void {
    const cell = activityCell(row.session.activity as Parameters<typeof activityCell>[0]);
    fill(
      row.activity,
      h('span', { class: `status status-${cell.busy ? 'busy' : 'idle'}` }, cell.status),
      cell.detail !== undefined ? h('span', { class: 'detail' }, cell.detail) : null,
      cell.expired ? h('span', { class: 'detail' }, cell.expired) : null,
    );
  }

  private async added(id: string): Promise<void> {
    const generation = this.generation;
    try {
      const session = await this.context.client.getSession(id);
      if (generation !== this.generation || this.closed || !matches(session, this.filters())) return;
      this.put(session, 'start');
      this.showStatus();
    } catch {
      // Gone again, or not readable with this token: nothing to show.
    }
  }

  private removed(id: string): void {
    const row = this.rows.get(id);
    if (!row) return;
    row.element.remove();
    this.rows.delete(id);
    this.showStatus();
  }

  private activity(id: string, change: Record<string, unknown>): void {
    const row = this.rows.get(id);
    if (!row) return;
    row.session = { ...row.session, activity: activityOf(change) as Session['activity'] };
    this.showActivity(row);
  }

  private changed(id: string, change: Record<string, unknown>): void {
    const row = this.rows.get(id);
    if (!row) return;
    if (typeof change.version === 'number') row.version.textContent = String(change.version);
    if (typeof change.last_seq === 'number') row.seq.textContent = String(change.last_seq);
    // The hint carries no messages: a row still without its first user message reads the session again, until it has one.
    if (row.session.first_user_message === null) void this.reread(id);
  }

  private async reread(id: string): Promise<void> {
    // A hint during the read may be the message the read missed: one more read after it.
    if (this.rereading.has(id)) {
      this.rereading.set(id, true);
      return;
    }
    this.rereading.set(id, false);
    const generation = this.generation;
    try {
      const session = await this.context.client.getSession(id);
      if (generation === this.generation && !this.closed && this.rows.has(id)) this.put(session, 'end');
    } catch {
      // Gone, or no longer readable: the feed says so in its own time.
    } finally {
      const again = this.rereading.get(id);
      this.rereading.delete(id);
      if (again && this.rows.get(id)?.session.first_user_message === null) void this.reread(id);
    }
  }
}
