// Writing and keeping messages through the real stack. Mention autocomplete: `@`
// suggests the server's members, `#` its text channels; the arrow keys move through
// them, Enter or Tab inserts the mention in the form the server reads, Escape closes
// the list. Pins: who may manage messages pins from the message's actions, everyone
// sees the pinned list and jumps from it.

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { composer, createServer, launch, messages, person, register, rest, screenshot, send, type Person } from './browser';

const run = Date.now().toString(36).slice(-6);
const baseUrl = inject('baseUrl');
let browser: Browser;
let ann: Person;
let zed: Person;

beforeAll(async () => {
  browser = await launch();
  ann = await person(browser, baseUrl, `ann_${run}`);
  zed = await person(browser, baseUrl, `zed_${run}`);
});

afterAll(async () => {
  await browser.close();
});

describe('writing and pinning', () => {
  it('suggests members and channels, inserts the chosen one by keyboard, and the mention reaches its person', async () => {
    await register(ann);
    await register(zed);
    const [, , , generalId = ''] = (await createServer(ann, `Compose ${run}`)).split('/');
    const invite = await rest<{ code: string }>(ann, 'POST', `/channels/${generalId}/invites`, { max_age: 3600 });
    await rest(zed, 'POST', `/invites/${invite.code}`);
    const zedId = (await rest<{ id: string }>(zed, 'GET', '/users/@me')).id;
    const { page } = ann;
    await page.getByRole('complementary', { name: 'Members' }).getByText(zed.name).waitFor();

    const input = composer(page);
    const members = page.getByRole('listbox', { name: 'Members' });
    await input.pressSequentially('hi @');
    expect(await members.getByRole('option').allTextContents()).toEqual([
      ann.name,
      zed.name,
      '@everyoneEveryone in the channel',
    ]);
    await screenshot(page, 'mention-autocomplete-1280');
    await input.press('ArrowDown');
    expect(await members.getByRole('option', { selected: true }).textContent()).toContain(zed.name);
    await input.press('Enter');
    await members.waitFor({ state: 'detached' });
    expect(await input.inputValue()).toBe(`hi <@${zedId}> `);

    await input.pressSequentially('see #gen');
    await page.getByRole('listbox', { name: 'Channels' }).getByRole('option', { name: '#general' }).waitFor();
    await input.press('Tab');
    expect(await input.inputValue()).toBe(`hi <@${zedId}> see <#${generalId}> `);

    // Escape closes the list and keeps what was typed.
    await input.pressSequentially('@');
    await members.waitFor();
    await input.press('Escape');
    await members.waitFor({ state: 'detached' });
    // Typed again, it opens again.
    await input.press('Backspace');
    await input.pressSequentially('@');
    await members.waitFor();
    await input.press('Escape');
    await input.press('Backspace');
    await input.press('Enter');

    await messages(page, `@${zed.name} see #general`).waitFor();
    await zed.page.getByRole('button', { name: 'Notifications, 1 unread' }).first().waitFor({ timeout: 5000 });
  });

  it('pins a message from its actions, lists it for everyone, jumps to it, and unpins it', async () => {
    const { page } = ann;
    await send(page, `pin me ${run}`);
    const row = messages(page, `pin me ${run}`);
    await row.hover();
    await row.getByRole('button', { name: 'Pin', exact: true }).click();
    await row.getByRole('button', { name: 'Unpin', exact: true, pressed: true }).waitFor();

    // A plain member may not pin, but sees what is pinned.
    await zed.page.goto(new URL(page.url()).pathname);
    const onZed = messages(zed.page, `pin me ${run}`);
    await onZed.hover();
    await onZed.getByRole('button', { name: 'Reply' }).waitFor();
    expect(await onZed.getByRole('button', { name: /^(Pin|Unpin)$/ }).count()).toBe(0);
    await zed.page.getByRole('button', { name: 'Pinned messages' }).click();
    const pinned = zed.page.getByRole('dialog', { name: 'Pinned messages' }).getByRole('list', { name: 'Pinned messages' });
    await pinned.getByText(`pin me ${run}`).waitFor();
    expect(await pinned.getByRole('button', { name: /^Unpin/ }).count()).toBe(0);
    await screenshot(zed.page, 'pinned-messages-1280');
    await pinned.getByRole('button', { name: `Jump to ${ann.name}'s message` }).click();
    await zed.page.locator('article.message[aria-current="true"]').filter({ hasText: `pin me ${run}` }).waitFor();

    // Unpinned from the list, it leaves everyone's list.
    await page.getByRole('button', { name: 'Pinned messages' }).click();
    const list = page.getByRole('dialog', { name: 'Pinned messages' });
    await list.getByRole('button', { name: `Unpin ${ann.name}'s message` }).click();
    await list.getByText('This channel has no pinned messages yet.').waitFor({ timeout: 5000 });
    await list.getByRole('button', { name: 'Done' }).click();
    await row.hover();
    await row.getByRole('button', { name: 'Pin', exact: true, pressed: false }).waitFor();
  });
});
