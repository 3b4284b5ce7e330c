// Friends through the real stack: one sends a friend request by username, the other
// sees it pending at Home as it arrives and accepts it, and each then has the other
// among their friends without reloading, with a button that opens their direct
// messages.

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';

import { launch, person, register, screenshot, type Person } from './browser';

const run = Date.now().toString(36).slice(-6);
const baseUrl = inject('baseUrl');
let browser: Browser;
let fay: Person;
let gus: Person;

beforeAll(async () => {
  browser = await launch();
  fay = await person(browser, baseUrl, `fay_${run}`);
  gus = await person(browser, baseUrl, `gus_${run}`);
});

afterAll(async () => {
  await browser.close();
});

describe('friends', () => {
  it('a request by username, accepted by the other, makes them friends', async () => {
    await register(fay);
    await register(gus);

    await fay.page.getByLabel('Add a friend by their username').fill(gus.name);
    await fay.page.getByRole('button', { name: 'Send friend request' }).click();
    await fay.page.getByRole('status').filter({ hasText: `Friend request sent to ${gus.name}.` }).waitFor();
    await fay.page.getByRole('tab', { name: 'Pending' }).click();
    await fay.page.getByRole('list', { name: 'Pending' }).getByText('Outgoing friend request').waitFor();

    // Gus is told at once (RELATIONSHIP_ADD), on the Home he has open and on the
    // Home button's badge.
    await gus.page.getByRole('link', { name: 'Home, 1 friend request' }).waitFor();
    await gus.page.getByRole('tab', { name: 'Pending (1)' }).click();
    await screenshot(gus.page, 'friends-pending-1280');
    await gus.page.getByRole('button', { name: `Accept ${fay.name}` }).click();
    await gus.page.getByRole('tab', { name: 'All friends' }).click();
    await gus.page.getByRole('list', { name: 'All friends' }).getByText(fay.name).waitFor();
    await gus.page.getByRole('link', { name: 'Home', exact: true }).waitFor();

    // So is Fay: her outgoing request becomes a friend.
    await fay.page.getByRole('tab', { name: 'All friends' }).click();
    await fay.page.getByRole('list', { name: 'All friends' }).getByText(gus.name).waitFor();
    await fay.page.getByRole('button', { name: `Message ${gus.name}` }).click();
    await fay.page.getByRole('textbox', { name: `Message @${gus.name}` }).waitFor();
  });
});
