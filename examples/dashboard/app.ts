/**
 * A minimal dashboard on the client: the session's state as a live mirror
 * (watchState), its token stream (subscribe), a session list (watchChanges),
 * and a form that queues input for the worker.
 */
import { CHANGE_EVENT, createClient } from '@session-sync/client';

const params = new URLSearchParams(location.search);
const id = params.get('session') ?? 'demo';
// Served from the same origin as the API here (serve.ts forwards /v1); another origin needs CORS_ORIGINS.
const client = createClient({ baseUrl: location.origin, token: () => sessionStorage.getItem('token') ?? undefined });
const $ = (selector: string) => document.querySelector(selector) as HTMLElement;
$('#session').textContent = id;

const store = client.watchState(id);
const render = () => {
  const { status, version, seq, state, activity, error } = store.getSnapshot();
  $('#status').textContent = error ? `${status}: ${error.detail}` : status;
  $('#version').textContent = String(version);
  $('#seq').textContent = String(seq);
  $('#activity').textContent = activity?.status ?? '';
  $('#state').textContent = JSON.stringify(state, null, 2);
};
store.subscribe(render);
render();

let tokens = '';
client.subscribe(id, { after: 'now' }, {
  onLive: ({ type, data }) => {
    if (type !== 'token') return;
    tokens += (data as { text: string }).text;
    $('#tokens').textContent = tokens;
  },
  onActivity: (activity) => {
    if (activity.status === 'thinking') tokens = '';
  },
});

const sessions = new Set<string>();
const showSessions = () => {
  $('#sessions').innerHTML = '';
  for (const name of sessions) {
    const link = document.createElement('a');
    link.href = `?session=${encodeURIComponent(name)}`;
    link.textContent = name;
    $('#sessions').append(link, ' ');
  }
};
client.watchChanges({
  onSweepRequired: async () => {
    sessions.clear();
    for (const s of (await client.listSessions({ limit: 20 })).sessions) sessions.add(s.id);
    showSessions();
  },
  onChange: (change) => {
    if (change.type === CHANGE_EVENT.deleted) sessions.delete(change.session_id);
    else sessions.add(change.session_id);
    showSessions();
  },
});

$('#send').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('#input') as HTMLInputElement;
  await client.enqueue(id, { items: [{ text: input.value }] });
  input.value = '';
});
