import chromium from '@sparticuz/chromium';
import { type Browser, chromium as playwright } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';

/** The page's globals this test reads (the test is compiled without the DOM library). */
declare const localStorage: { getItem(key: string): string | null };
declare const document: { getElementById(id: string): { contentDocument: { title: string } | null } | null };

// An HTML page with a script, uploaded by a hostile worker, opened in a real
// browser at its URL on the server's own origin: it must not run there.
let t: TestApp;
let browser: Browser;

beforeAll(async () => {
  t = await createTestApp();
  await t.listen();
  browser = await playwright.launch({ executablePath: await chromium.executablePath(), args: chromium.args, headless: true });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

const HOSTILE = `<!doctype html><html><body><script>
  localStorage.setItem('pwned', 'yes');
  document.title = 'ran';
</script></body></html>`;

describe('an uploaded HTML page in a browser', () => {
  it('is downloaded, never rendered, and its script never runs in the origin', { timeout: 60_000 }, async () => {
    await fetch(`${t.baseUrl}/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"hostile"}' });
    const uploaded = (await (
      await fetch(`${t.baseUrl}/v1/sessions/hostile/attachments`, { method: 'POST', headers: { 'content-type': 'text/html' }, body: HOSTILE })
    ).json()) as { attachment_id: string };
    const url = `${t.baseUrl}/v1/sessions/hostile/attachments/${uploaded.attachment_id}`;

    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    const download = page.waitForEvent('download');
    // Chromium ends a navigation that turns into a download with an error: there is no page.
    await expect(page.goto(url)).rejects.toThrow(/Download is starting|ERR_ABORTED/);
    expect((await download).url()).toBe(url);

    // The origin's storage is untouched: the script never ran there.
    await page.goto(`${t.baseUrl}/healthz`);
    expect(await page.evaluate(() => localStorage.getItem('pwned'))).toBeNull();

    // Embedded by a page of the same origin, it is not rendered either.
    await page.setContent(`<iframe id="f" src="${url}"></iframe>`);
    const frameTitle = await page.evaluate(() => {
      try {
        return document.getElementById('f')?.contentDocument?.title ?? null;
      } catch {
        return 'cross-origin';
      }
    });
    expect(frameTitle).not.toBe('ran');
    expect(await page.evaluate(() => localStorage.getItem('pwned'))).toBeNull();
    await context.close();
  });
});
