/**
 * The session inspector (GET /inspect): every session live, and one session's
 * state, history, live events, lease, queue and messages. Built on the
 * project's own client; it only reads (read-only grants are enough).
 */
import { createClient, type SessionSyncError } from '@session-sync/client';
import { Context } from './context.js';
import { byId, describeError } from './dom.js';
import { SessionList } from './list.js';
import { SessionView } from './session.js';

const TOKEN_KEY = 'session-sync.inspector.token';

let list: SessionList | undefined;
let view: SessionView | undefined;
let viewing: string | undefined;
let context: Context | undefined;

function stop(): void {
  view?.close();
  list?.close();
  view = undefined;
  list = undefined;
  viewing = undefined;
}

function askForToken(problem?: string): void {
  stop();
  byId('app').hidden = true;
  byId('forget-token').hidden = true;
  const form = byId('token-form');
  form.hidden = false;
  const note = byId('token-problem');
  note.textContent = problem ?? '';
  note.hidden = !problem;
  const connection = byId('connection');
  connection.dataset.status = 'closed';
  connection.textContent = 'closed: needs a token';
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

function showRoute(): void {
  if (!context) return;
  const id = route();
  if (id === viewing && view) return;
  view?.close();
  viewing = id;
  view = new SessionView(context, byId('session'), id);
  list?.highlight(id);
}

function start(auth: boolean): void {
  stop();
  byId('token-form').hidden = true;
  byId('app').hidden = false;
  byId('forget-token').hidden = !auth;
  // Errors of the previous run (a refused token, say) are over.
  byId('banner').hidden = true;
  const client = createClient({ baseUrl: location.origin, token: () => sessionStorage.getItem(TOKEN_KEY) ?? undefined });
  context = new Context(client, (error: SessionSyncError) => {
    if (auth) askForToken(`The server refused the token: ${describeError(error)}`);
  });
  list = new SessionList(context, byId('list'));
  showRoute();
}

async function boot(): Promise<void> {
  let auth = false;
  try {
    const response = await fetch('/inspect/config.json', { cache: 'no-store' });
    auth = Boolean(((await response.json()) as { auth?: boolean }).auth);
  } catch (error) {
    const banner = byId('banner');
    banner.textContent = `cannot read the inspector's settings: ${describeError(error)} (reload the page)`;
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
  window.addEventListener('hashchange', showRoute);
  if (auth && !sessionStorage.getItem(TOKEN_KEY)) askForToken();
  else start(auth);
}

void boot();
