import { mkdir, readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Locator, Page } from 'playwright-core';
import type { SessionSyncClient } from '../../client/src/index.js';

/** Where the docs keep the inspector's pictures (docs/guide.md, Inspector, shows them). */
const IMAGES = new URL('../../docs/images/', import.meta.url);
/** A screenshot larger than this is a page that grew, or a picture that should be cut smaller. */
export const MAX_SCREENSHOT_BYTES = 140 * 1024;

/** The pictures written by this run, for the test that the guide shows each of them. */
export const written = new Set<string>();

/** The inspector's pictures docs/guide.md shows. */
export async function shownInGuide(): Promise<string[]> {
  const guide = await readFile(new URL('../guide.md', IMAGES), 'utf8');
  return [...guide.matchAll(/\]\(images\/(inspector-[a-z-]+\.png)\)/g)].map((match) => match[1]!);
}

const INSTANT = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})/g;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/**
 * Copies session `from` to `to` with every time and generated id in it fixed:
 * its export, each instant moved to `start` plus a minute per distinct instant
 * in the order they happened, each UUID (message, batch and claim ids)
 * numbered in the order it first appears, imported as `to`; `from` is
 * deleted. What the copy holds is what the server wrote, only with times and
 * ids that are the same every run. (The record's `updated_at` is the
 * import's own: pictures mask it.)
 */
export async function frozenCopy(client: SessionSyncClient, from: string, to: string, start: number): Promise<void> {
  const file = await new Response(await client.exportSession(from)).text();
  const instants = [...new Set(file.match(INSTANT) ?? [])].sort((a, b) => Date.parse(a) - Date.parse(b) || a.localeCompare(b));
  const times = new Map(instants.map((instant, index) => [instant, new Date(start + index * 60_000).toISOString()]));
  const ids = new Map<string, string>();
  const frozen = file
    .replace(INSTANT, (instant) => times.get(instant)!)
    .replace(UUID, (uuid) => {
      if (!ids.has(uuid)) ids.set(uuid, `00000000-0000-7000-8000-${String(ids.size + 1).padStart(12, '0')}`);
      return ids.get(uuid)!;
    });
  await client.importSession(frozen, { id: to });
  await client.deleteSession(from);
}

/**
 * Writes docs/images/inspector-<name>.png: the viewport, or one element of
 * the page, at one CSS pixel a pixel, with `mask` painted over.
 */
export async function screenshot(page: Page, name: string, options: { element?: string; mask?: Locator[] } = {}): Promise<void> {
  await mkdir(IMAGES, { recursive: true });
  written.add(`inspector-${name}.png`);
  const path = fileURLToPath(new URL(`inspector-${name}.png`, IMAGES));
  await page.evaluate(() => (globalThis as any).document.fonts.ready);
  const shot = { path, animations: 'disabled', caret: 'hide', scale: 'css', mask: options.mask ?? [], maskColor: '#d9d9d6' } as const;
  if (options.element) await page.locator(options.element).screenshot(shot);
  else await page.screenshot(shot);
  const { size } = await stat(path);
  if (size > MAX_SCREENSHOT_BYTES) throw new Error(`${path} is ${size} bytes, more than ${MAX_SCREENSHOT_BYTES}: cut the picture smaller`);
}
