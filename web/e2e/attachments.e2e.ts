// Files through the real stack: a picture and a text file sent with a message show
// as an image at its recorded size and as a download link, both served by the CDN
// at signed URLs; a file over the limit is refused before anything is sent.

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { composer, createServer, launch, messages, person, register, screenshot, type Person } from './browser';

const run = Date.now().toString(36).slice(-6);
const baseUrl = inject('baseUrl');
let browser: Browser;
let ida: Person;

/** A 3×2 PNG (black pixels), built byte by byte: signature, IHDR, IDAT, IEND. */
function png(): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes: Buffer) => {
    let c = 0xffffffff;
    for (const byte of bytes) c = (crcTable[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([length, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(3, 0);
  header.writeUInt32BE(2, 4);
  header.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale
  // Two rows of one filter byte and three pixels, stored (uncompressed) in zlib.
  const raw = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]);
  let a = 1;
  let b = 0;
  for (const byte of raw) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE(((b << 16) | a) >>> 0);
  const stored = Buffer.concat([Buffer.from([0x78, 0x01, 0x01, raw.length, 0, ~raw.length & 0xff, 0xff]), raw, adler]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', stored),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

beforeAll(async () => {
  browser = await launch();
  ida = await person(browser, baseUrl, `ida_${run}`);
});

afterAll(async () => {
  await browser.close();
});

describe('attachments', () => {
  it('a picture and a file sent with a message show and download from the CDN', async () => {
    await register(ida);
    await createServer(ida, `Files ${run}`);
    const { page } = ida;
    const picker = page.locator('input[type="file"]');
    await picker.setInputFiles([
      { name: 'dot.png', mimeType: 'image/png', buffer: png() },
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from(`notes of ${run}`) },
    ]);
    await page.getByRole('list', { name: 'Files to send' }).getByText('dot.png').waitFor();
    await composer(page).fill(`files ${run}`);
    await composer(page).press('Enter');

    const message = messages(page, `files ${run}`);
    const image = message.getByRole('img', { name: 'dot.png' });
    await image.waitFor();
    expect(await image.getAttribute('width')).toBe('3');
    expect(await image.getAttribute('height')).toBe('2');
    // Drawn from the CDN: the browser decoded it.
    await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(3);
    const link = message.getByRole('link', { name: /notes\.txt/ });
    const href = await link.getAttribute('href');
    expect(href).toMatch(/\/cdn\/attachments\/.*[?&]hm=/);
    const download = await page.request.get(href ?? '');
    expect(download.status()).toBe(200);
    expect(await download.text()).toBe(`notes of ${run}`);
    expect(download.headers()['x-content-type-options']).toBe('nosniff');
    await screenshot(page, 'attachments-1280');

    // Over the limit: said at once, nothing sent.
    await picker.setInputFiles({ name: 'huge.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(26 * 1024 * 1024) });
    await page.getByRole('alert').filter({ hasText: 'huge.bin is 26.0 MB' }).waitFor();
    expect(await page.getByRole('list', { name: 'Files to send' }).count()).toBe(0);
  });
});
