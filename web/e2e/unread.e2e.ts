// Unread messages through the real stack: what arrives in a channel the reader is
// not looking at is counted on the channel and on the server's icon, and opening the
// channel puts the "new messages" divider before the first of them.

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { createServer, launch, messages, person, register, rest, screenshot, type Person } from './browser';

const run = Date.now().toString(36).slice(-6);
const baseUrl = inject('baseUrl');
const serverName = `News ${run}`;
let browser: Browser;
let writer: Person;
let reader: Person;
let guildId = '';
let generalId = '';
let randomId = '';

beforeAll(async () => {
  browser = await launch();
  writer = await person(browser, baseUrl, `wren_${run}`);
  reader = await person(browser, baseUrl, `rey_${run}`);
});

afterAll(async () => {
  await browser.close();
});

describe('unread messages', () => {
  it('counts them per channel and per server, and marks where the new ones start', async () => {
    await register(writer);
    await register(reader);
    [, , guildId = '', generalId = ''] = (await createServer(writer, serverName)).split('/');
    ({ id: randomId } = await rest<{ id: string }>(writer, 'POST', `/guilds/${guildId}/channels`, { name: 'random', type: 0 }));
    const invite = await rest<{ code: string }>(writer, 'POST', `/channels/${generalId}/invites`, { max_age: 3600 });
    await rest(reader, 'POST', `/invites/${invite.code}`);
    const say = (content: string) => rest(writer, 'POST', `/channels/${randomId}/messages`, { content });

    const { page } = reader;
    await page.goto(`/channels/${guildId}/${generalId}`);
    const sidebar = page.getByRole('navigation', { name: `${serverName} channels` });
    await sidebar.getByRole('link', { name: 'random', exact: true }).waitFor();
    await say(`first news ${run}`);
    await say(`second news ${run}`);
    await sidebar.getByRole('link', { name: 'random, 2 unread messages' }).waitFor({ timeout: 5000 });

    // Elsewhere, the server's icon counts them too.
    await page.getByRole('link', { name: 'Home' }).click();
    await say(`third news ${run}`);
    await page.getByRole('link', { name: `${serverName}, 3 unread messages` }).waitFor({ timeout: 5000 });
    await screenshot(page, 'unread-1280');

    // The server opens on its first text channel, #random (uncategorized come first).
    await page.getByRole('link', { name: `${serverName}, 3 unread messages` }).click();
    await page.getByRole('textbox', { name: 'Message #random' }).waitFor();
    await messages(page, `third news ${run}`).waitFor();
    // All three came while the reader was away: the divider is above the first.
    const rows = page.getByRole('listitem').filter({ has: page.locator('article.message') });
    const divided = rows.filter({ has: page.getByRole('separator', { name: 'New messages' }) });
    expect(await divided.locator('article.message').textContent()).toContain(`first news ${run}`);
    await sidebar.getByRole('link', { name: 'random', exact: true }).waitFor();
    await page.getByRole('link', { name: serverName, exact: true }).waitFor();
    await screenshot(page, 'new-messages-1280');
  });

  it('opens a channel with more news than a screen at the divider, not at the bottom', async () => {
    const { page } = reader;
    await page.getByRole('link', { name: 'Home' }).click();
    for (let n = 0; n < 40; n++) {
      await rest(writer, 'POST', `/channels/${generalId}/messages`, { content: `backlog ${n} of ${run}` });
    }
    await page.getByRole('link', { name: `${serverName}, 40 unread messages` }).click({ timeout: 10_000 });
    await page
      .getByRole('navigation', { name: `${serverName} channels` })
      .getByRole('link', { name: 'general, 40 unread messages' })
      .click();
    const divider = page.getByRole('separator', { name: 'New messages' });
    await divider.waitFor();
    // Let the list settle where it is going, then look.
    await page.waitForTimeout(500);
    const view = await page.getByLabel('Messages in #general').boundingBox();
    const line = await divider.boundingBox();
    expect(view).not.toBeNull();
    expect(line).not.toBeNull();
    if (view === null || line === null) return;
    expect(line.y).toBeGreaterThanOrEqual(view.y);
    expect(line.y + line.height).toBeLessThanOrEqual(view.y + view.height);
    await messages(page, `backlog 0 of ${run}`).waitFor();
    await screenshot(page, 'new-messages-divider-1280');
  });

  it('shows on a new device what was read elsewhere, and what came while away with its mentions', async () => {
    // The reader has read #random (above) and #general (the backlog) on this page.
    const { page } = reader;
    await page.getByRole('link', { name: 'Home' }).click();
    const me = await rest<{ id: string }>(reader, 'GET', '/users/@me');
    await page.close();
    // While no client of theirs is open: news in #random, one of them a mention.
    await rest(writer, 'POST', `/channels/${randomId}/messages`, { content: `while away ${run}` });
    await rest(writer, 'POST', `/channels/${randomId}/messages`, { content: `<@${me.id}> look ${run}` });

    // Another device: READY's read states know what was read and what was not.
    const device = await reader.context.newPage();
    await device.goto('/channels/@me');
    await device.getByRole('link', { name: `${serverName}, 1 unread mentions` }).click({ timeout: 10_000 });
    const sidebar = device.getByRole('navigation', { name: `${serverName} channels` });
    await sidebar.getByRole('link', { name: 'general', exact: true }).waitFor();
    // The server opens on #random, which reads it.
    await device.getByRole('textbox', { name: 'Message #random' }).waitFor();
    await device.getByRole('link', { name: serverName, exact: true }).waitFor();
    reader.page = device;
  });
});
