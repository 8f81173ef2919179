/**
 * The session inspector (GET /inspect): every session live, and one session's
 * state, history by turn, diffs, usage, live events, lease, attachments,
 * queue and messages. Built on the project's own client; it only reads
 * (read-only grants are enough). Any session opens by its link
 * (`#/s/<id>`) or by typing its id.
 */
import { createClient, type SessionSyncError } from '@session-sync/client';
import { Context } from './context.js';
import { byId, h } from './dom.js';
import { SessionList } from './list.js';
import { SessionView } from './session.js';
import { describeError, plainWords } from './status.js';

const TOKEN_KEY = 'session-sync.inspector.token';

let list: SessionList | undefined;
let view: SessionView | undefined;
/** The session shown (undefined: the hint to pick one; null: nothing yet). */
let viewing: string | undefined | null = null;
let context: Context | undefined;

function stop(): void {
  view?.close();
  list?.close();
  view = undefined;
  list = undefined;
  viewing = null;
}

function askForToken(problem?: string): void {
  stop();
  context = undefined;
  byId('app').hidden = true;
  byId('forget-token').hidden = true;
  byId('open-form').hidden = true;
  const form = byId('token-form');
  form.hidden = false;
  const note = byId('token-problem');
  note.textContent = problem ?? '';
  note.hidden = !problem;
  byId<HTMLInputElement>('token-input').focus();
}

/** The session named by the fragment (`#/s/<id>`), if any. */
function route(): string | undefined {
  const match = /^#\/s\/(.+)$/.exec(location.hash);
  if (!match?.[1]) return undefined;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return undefined;
  }
}

/** Shows what the fragment names; `moved` when the viewer navigated (not the first load), so the focus follows them to the session. */
function showRoute(moved: boolean): void {
  if (!context) return;
  const id = route();
  // Narrow screens show the list or the session, not both.
  document.body.dataset.view = id === undefined ? 'list' : 'session';
  if (id === viewing && (view || id === undefined)) return;
  view?.close();
  view = undefined;
  viewing = id;
  list?.highlight(id);
  const root = byId('session');
  if (id === undefined) {
    root.replaceChildren(
      h('p', { class: 'hint', attrs: { id: 'session-hint' } }, 'Pick a session, or open one by its id above. Its state, history by turn, usage, live events, attachments, queue and messages show here, live.'),
    );
    return;
  }
  view = new SessionView(context, root, id);
  if (moved) view.title.focus();
}

function start(auth: boolean): void {
  stop();
  byId('token-form').hidden = true;
  byId('app').hidden = false;
  byId('forget-token').hidden = !auth;
  byId('open-form').hidden = false;
  byId('banner').hidden = true;
  const client = createClient({ baseUrl: location.origin, token: () => sessionStorage.getItem(TOKEN_KEY) ?? undefined });
  context = new Context(client, (error: SessionSyncError) => {
    if (auth) askForToken(plainWords(error));
  });
  list = new SessionList(context, byId('list'));
  showRoute(false);
}

async function boot(): Promise<void> {
  let auth = false;
  try {
    const response = await fetch('/inspect/config.json', { cache: 'no-store' });
    auth = Boolean(((await response.json()) as { auth?: boolean }).auth);
  } catch (error) {
    const banner = byId('banner');
    banner.textContent = `The inspector cannot read its settings from the server (${describeError(error)}): the server may be down. Reload the page once it is back.`;
    banner.hidden = false;
    return;
  }
  byId('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = byId<HTMLInputElement>('token-input');
    const token = input.value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    input.value = '';
    start(auth);
  });
  byId('forget-token').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    askForToken();
  });
  byId('open-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = byId<HTMLInputElement>('open-id');
    const id = input.value.trim();
    if (!id) return;
    const hash = `#/s/${encodeURIComponent(id)}`;
    // The same session again (after a "Try again", say) still moves the focus there.
    if (location.hash === hash) showRoute(true);
    else location.hash = hash;
  });
  window.addEventListener('hashchange', () => showRoute(true));
  // The skip link jumps to the session without touching the fragment, which names the session shown.
  document.querySelector('a.skip')?.addEventListener('click', (event) => {
    event.preventDefault();
    (view?.title ?? byId('session')).focus();
  });
  if (auth && !sessionStorage.getItem(TOKEN_KEY)) askForToken();
  else start(auth);
}

void boot();
