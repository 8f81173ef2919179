/**
 * Every session the viewer may read, newest first, live through the changes
 * feed: created sessions appear, deleted ones go, activity and heads update
 * in place. The parent filter is the server's (`parent_id`); the id prefix is
 * applied here, to the pages loaded, and "More" reads on until it finds more.
 */
import type { ChangesFeed, Session } from '@session-sync/client';
import type { Context } from './context.js';
import { debounce, fill, h, sessionLink, timeOf } from './dom.js';
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
}

export class SessionList {
  private readonly rows = new Map<string, Row>();
  private readonly body = h('tbody');
  private readonly status = h('p', { class: 'list-status', attrs: { id: 'list-status' } });
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

  constructor(
    private readonly context: Context,
    root: HTMLElement,
  ) {
    const apply = debounce(() => void this.reload(1), 250);
    this.prefix.addEventListener('input', apply);
    this.parent.addEventListener('input', apply);
    this.more.addEventListener('click', () => void this.loadMore());
    fill(
      root,
      h('h2', null, 'Sessions'),
      h('div', { class: 'filters' }, h('label', null, 'Prefix ', this.prefix), h('label', null, 'Parent ', this.parent)),
      h(
        'table',
        { class: 'sessions', attrs: { id: 'sessions' } },
        h('thead', null, h('tr', null, h('th', null, 'id'), h('th', null, 'activity'), h('th', null, 'version'), h('th', null, 'seq'))),
        this.body,
      ),
      this.status,
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
      onStatus: (status) => context.connection('changes feed', status),
      onError: (error) => {
        context.connection('changes feed', 'closed', 'the changes feed ended');
        context.error('Sessions (changes feed)', error);
      },
    });
  }

  close(): void {
    this.closed = true;
    this.feed.close();
    this.context.forget('changes feed');
  }

  highlight(id: string | undefined): void {
    this.current = id;
    for (const [rowId, row] of this.rows) row.element.classList.toggle('current', rowId === id);
  }

  private matches(session: Session): boolean {
    const parent = this.parent.value.trim();
    if (parent && session.parent_id !== parent) return false;
    return session.id.startsWith(this.prefix.value.trim());
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
      this.context.ok('Sessions');
      this.nextCursor = page.next_cursor;
      this.pagesLoaded += 1;
      found.push(...page.sessions.filter((session) => this.matches(session)));
      if (this.nextCursor === null) break;
    }
    return found;
  }

  private failed(error: unknown): void {
    this.context.error('Sessions', error);
    this.status.textContent = 'The list could not be read (see above); it is read again when the feed reconnects.';
  }

  private showStatus(): void {
    const filtered = this.prefix.value.trim() || this.parent.value.trim();
    const count = `${this.rows.size} session${this.rows.size === 1 ? '' : 's'}${filtered ? ' matching' : ''}`;
    this.status.textContent = this.nextCursor === null ? `${count}, all loaded.` : `${count} loaded; more below.`;
    this.more.hidden = this.nextCursor === null;
  }

  private put(session: Session, where: 'start' | 'end'): void {
    const existing = this.rows.get(session.id);
    if (existing) {
      existing.session = session;
      this.showActivity(existing);
      return;
    }
    const activity = h('td', { class: 'activity' });
    const version = h('td', { class: 'num' }, session.version);
    const seq = h('td', { class: 'num' }, session.last_seq);
    const element = h(
      'tr',
      { attrs: { 'data-session': session.id } },
      h('td', { class: 'id' }, sessionLink(session.id), session.parent_id ? h('span', { class: 'parent' }, ` ↳ ${session.parent_id}`) : null, h('br'), timeOf(session.created_at)),
      activity,
      version,
      seq,
    );
    element.classList.toggle('current', session.id === this.current);
    const row: Row = { session, element, activity, version, seq };
    this.rows.set(session.id, row);
    this.showActivity(row);
    if (where === 'start') this.body.prepend(element);
    else this.body.append(element);
  }

  private showActivity(row: Row): void {
    const activity = row.session.activity as { status?: string; detail?: unknown; expired?: boolean } | null | undefined;
    fill(
      row.activity,
      h('span', { class: `status status-${activity?.status === 'idle' || !activity ? 'idle' : 'busy'}` }, activity?.status ?? 'idle'),
      activity?.detail !== undefined ? h('span', { class: 'detail' }, ` ${typeof activity.detail === 'string' ? activity.detail : JSON.stringify(activity.detail)}`) : null,
      activity?.expired ? h('span', { class: 'detail' }, ' (expired)') : null,
    );
  }

  private async added(id: string): Promise<void> {
    const generation = this.generation;
    try {
      const session = await this.context.client.getSession(id);
      if (generation !== this.generation || this.closed || !this.matches(session)) return;
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
    const { session_id: _id, type: _type, ...activity } = change;
    row.session = { ...row.session, activity: activity as Session['activity'] };
    this.showActivity(row);
  }

  private changed(id: string, change: Record<string, unknown>): void {
    const row = this.rows.get(id);
    if (!row) return;
    if (typeof change.version === 'number') row.version.textContent = String(change.version);
    if (typeof change.last_seq === 'number') row.seq.textContent = String(change.last_seq);
  }
}
