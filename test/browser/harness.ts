/**
 * Runs in the browser page of test/browser/client.test.ts: the client, bundled
 * for the browser by esbuild, driven by the test through `window.harness`.
 */
import { createClient, type StateStore, type Subscription } from '../../client/src/index.js';

const retry = { attempts: 30, baseDelayMs: 5, maxDelayMs: 50 };
let subscription: Subscription | undefined;
let store: StateStore<unknown> | undefined;
const seqs: number[] = [];
let reconnects = 0;

const harness = {
  subscribe(baseUrl: string, id: string): void {
    subscription = createClient({ baseUrl, retry }).subscribe(id, {}, {
      onEvent: (event) => seqs.push(event.seq),
      onStatus: (status) => {
        if (status === 'reconnecting') reconnects += 1;
      },
    });
  },
  subscribed() {
    return { seqs, lastSeq: subscription?.lastSeq ?? 0, reconnects };
  },
  async watch(baseUrl: string, id: string): Promise<string> {
    store = createClient({ baseUrl, retry }).watchState(id);
    return (await store.ready).status;
  },
  watched() {
    const { status, version, state, error } = store!.getSnapshot();
    // Why a closed store closed, so a test that waits for a version says it.
    return { status, version, state, ...(error ? { error: { code: error.code, status: error.status, detail: error.detail } } : {}) };
  },
  close(): void {
    subscription?.close();
    store?.close();
  },
};

(globalThis as unknown as { harness: typeof harness }).harness = harness;
