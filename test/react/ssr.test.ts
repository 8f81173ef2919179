import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it, onTestFinished } from 'vitest';

// The React bindings on a server (Node, react-dom/server): importing them touches no browser global,
// and rendering opens no connection and shows each hook's initial snapshot (what hydration starts from).
describe('@session-sync/client/react on the server', () => {
  it('imports without touching window or document, and renderToString makes no request and renders the initial snapshots', async () => {
    const touched: string[] = [];
    const owns = new Map<string, PropertyDescriptor | undefined>();
    onTestFinished(() => {
      for (const [name, own] of owns) {
        if (own) Object.defineProperty(globalThis, name, own);
        else delete (globalThis as Record<string, unknown>)[name];
      }
    });
    for (const name of ['window', 'document', 'self', 'localStorage', 'sessionStorage', 'location', 'navigator']) {
      const own = Object.getOwnPropertyDescriptor(globalThis, name);
      owns.set(name, own);
      Object.defineProperty(globalThis, name, {
        configurable: true,
        get() {
          touched.push(name);
          return own?.get ? own.get.call(globalThis) : own?.value;
        },
      });
    }
    const bindings = await import('../../client/src/react.js');
    const core = await import('../../client/src/index.js');
    expect(touched).toEqual([]);

    const requests: string[] = [];
    const client = core.createClient({
      baseUrl: 'http://127.0.0.1:1',
      fetch: async (input) => {
        requests.push(String(input));
        throw new TypeError('no request may be made while rendering on the server');
      },
    });
    function Page() {
      const state = bindings.useSessionState<{ title: string }>('ssr');
      const session = bindings.useSession('ssr');
      const list = bindings.useSessions();
      return createElement(
        'main',
        null,
        createElement('p', { id: 'state' }, `${state.status} v${state.version} ${JSON.stringify(state.state)}`),
        createElement('p', { id: 'session' }, `${session.status} ${session.events.length} events, lease ${JSON.stringify(session.lease)}, text "${session.liveText}"`),
        createElement('p', { id: 'list' }, `${list.status} ${list.sessions.length} sessions`),
      );
    }
    const html = renderToString(createElement(bindings.SessionSyncProvider, { client }, createElement(Page)));
    expect(html).toBe(
      '<main><p id="state">loading v0 null</p><p id="session">loading 0 events, lease null, text &quot;&quot;</p><p id="list">loading 0 sessions</p></main>',
    );
    // Nothing was started to run later either: timers and promises of a store would have asked by now.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(requests).toEqual([]);
    expect(touched).toEqual([]);
  });

  it('a hook outside a provider says what is missing', async () => {
    const bindings = await import('../../client/src/react.js');
    const Orphan = () => createElement('p', null, bindings.useSession('x').status);
    expect(() => renderToString(createElement(Orphan))).toThrow('session-sync hooks need a <SessionSyncProvider client={...}> above them');
  });
});
