// Running a server through the real stack: channels and categories, an invite made
// and listed in the settings, an icon set (seen in both rails) and removed, a role with a permission toggled on and given to a
// member, a channel hidden from @everyone by an overwrite, then kicking (they may
// come back) and banning (they may not).

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { composer, createServer, launch, person, PHONE, register, screenshot, type Person } from './browser';

const run = Date.now().toString(36).slice(-6);
const baseUrl = inject('baseUrl');
let browser: Browser;
let owner: Person;
let member: Person;
let code = '';
const serverName = `Guild ${run}`;

beforeAll(async () => {
  browser = await launch();
  owner = await person(browser, baseUrl, `olga_${run}`);
  member = await person(browser, baseUrl, `pat_${run}`);
});

afterAll(async () => {
  await browser.close();
});

async function openSettings(who: Person, tab: string) {
  await who.page.getByRole('button', { name: 'Server settings' }).click();
  await who.page.getByRole('tab', { name: tab }).click();
}

async function join(who: Person) {
  await who.page.getByRole('button', { name: 'Join a server' }).click();
  await who.page.getByLabel('Invite link or code').fill(code);
  await who.page.getByRole('button', { name: 'Join', exact: true }).click();
}

describe('managing a server', () => {
  it('creates a category and a channel in it', async () => {
    await register(owner);
    await register(member);
    await createServer(owner, serverName);

    await owner.page.getByRole('button', { name: 'Create a channel' }).click();
    await owner.page.getByRole('radio', { name: 'Category' }).check();
    await owner.page.getByLabel('Category name').fill('Projects');
    await owner.page.getByRole('button', { name: 'Create', exact: true }).click();
    await owner.page.getByRole('region', { name: 'Projects' }).waitFor();

    await owner.page.getByRole('button', { name: 'Create a channel' }).click();
    await owner.page.getByLabel('Channel name').fill('plans');
    await owner.page.getByLabel('In category').selectOption({ label: 'Projects' });
    await screenshot(owner.page, 'create-channel-1280');
    await owner.page.getByRole('button', { name: 'Create', exact: true }).click();
    // The new text channel opens, listed in its category.
    await owner.page.getByRole('textbox', { name: 'Message #plans' }).waitFor();
    await owner.page.getByRole('region', { name: 'Projects' }).getByRole('link', { name: 'plans' }).waitFor();
  });

  it('creates an invite in the settings, lists it, and the other joins with it', async () => {
    await openSettings(owner, 'Invites');
    await owner.page.getByRole('button', { name: 'Create invite' }).click();
    code = (await owner.page.getByTestId('invite-code').textContent()) ?? '';
    expect(code).toBeTruthy();
    await owner.page.getByRole('button', { name: 'Done' }).first().click();
    await owner.page.getByRole('list', { name: 'Invites' }).getByText(code).waitFor();
    await owner.page.getByRole('button', { name: 'Done' }).click();

    await join(member);
    await composer(member.page).waitFor();
    await member.page.getByRole('region', { name: 'Projects' }).getByRole('link', { name: 'plans' }).waitFor();
    // A plain member manages nothing: no settings.
    expect(await member.page.getByRole('button', { name: 'Server settings' }).count()).toBe(0);
  });

  it("sets the server's icon, which both see in the rail, and removes it", async () => {
    // A 1×1 PNG.
    const pixel = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
      'base64',
    );
    await openSettings(owner, 'Overview');
    await owner.page.getByLabel('Upload an icon (PNG, JPEG, GIF or WebP)').setInputFiles({ name: 'icon.png', mimeType: 'image/png', buffer: pixel });
    await owner.page.getByRole('img', { name: 'Current server icon' }).waitFor();
    await owner.page.getByRole('button', { name: 'Done' }).click();
    for (const who of [owner, member]) {
      const icon = who.page.getByRole('navigation', { name: 'Servers' }).getByRole('link', { name: serverName }).locator('img');
      await icon.waitFor();
      expect(await icon.getAttribute('src')).toMatch(/^\/cdn\/icons\/\d+\/[0-9a-f]{32}\.png$/);
      // The image loaded: the CDN served it.
      await expect.poll(() => icon.evaluate((image: HTMLImageElement) => image.naturalWidth)).toBe(1);
    }

    await openSettings(owner, 'Overview');
    await owner.page.getByRole('button', { name: 'Remove icon' }).click();
    await owner.page.getByText('No icon: the server shows its initials.').waitFor();
    await owner.page.getByRole('button', { name: 'Done' }).click();
    const rail = member.page.getByRole('navigation', { name: 'Servers' }).getByRole('link', { name: serverName });
    await expect.poll(() => rail.locator('img').count()).toBe(0);
  });

  it('makes a role with a permission toggled on and gives it to the member', async () => {
    await openSettings(owner, 'Roles');
    await owner.page.getByPlaceholder('New role name').fill('Moderators');
    await owner.page.getByRole('button', { name: 'Create role' }).click();
    const editor = owner.page.getByRole('region', { name: 'Role Moderators' });
    await editor.waitFor();
    const kick = editor.getByRole('switch', { name: 'Kick Members' });
    await kick.click();
    await expect.poll(() => kick.getAttribute('aria-checked'), { timeout: 5000 }).toBe('true');
    const given = editor.getByRole('switch', { name: member.name });
    await given.click();
    await expect.poll(() => given.getAttribute('aria-checked'), { timeout: 5000 }).toBe('true');
    await screenshot(owner.page, 'settings-roles-1280');
    await owner.page.getByRole('button', { name: 'Done' }).click();
    // With Kick Members the member now sees the settings, and the Members tab.
    await member.page.getByRole('button', { name: 'Server settings' }).click();
    await member.page.getByRole('tab', { name: 'Members' }).waitFor();
    expect(await member.page.getByRole('tab', { name: 'Roles' }).count()).toBe(0);
    await member.page.getByRole('button', { name: 'Done' }).click();
  });

  it('hides a channel from @everyone with an overwrite, and shows it again', async () => {
    const memberSidebar = member.page.getByRole('navigation', { name: `${serverName} channels` });
    await memberSidebar.getByRole('link', { name: 'plans', exact: true }).waitFor();
    await openSettings(owner, 'Channel permissions');
    await owner.page.getByLabel('Channel', { exact: true }).selectOption({ label: '#plans' });
    await owner.page.getByLabel('Add a role or member').selectOption({ label: 'Role: @everyone' });
    await owner.page.getByRole('button', { name: 'Add', exact: true }).click();
    const overwrite = owner.page.getByRole('region', { name: 'Overwrite for @everyone' });
    const view = overwrite.getByRole('group', { name: 'View Channels' });
    // The choice shows once the server has it (CHANNEL_UPDATE).
    const deny = view.getByRole('radio', { name: 'Deny' });
    await deny.click();
    await expect.poll(() => deny.isChecked(), { timeout: 5000 }).toBe(true);
    await screenshot(owner.page, 'settings-channel-permissions-1280');
    // The member no longer sees it; the owner still does.
    await memberSidebar.getByRole('link', { name: 'plans', exact: true }).waitFor({ state: 'detached', timeout: 10_000 });
    await view.getByRole('radio', { name: 'Inherit' }).click();
    await memberSidebar.getByRole('link', { name: 'plans', exact: true }).waitFor({ timeout: 10_000 });
    await overwrite.getByRole('button', { name: 'Remove' }).click();
    await overwrite.waitFor({ state: 'detached' });
    await owner.page.getByRole('button', { name: 'Done' }).click();
  });

  it('kicks the member, who can come back with the invite', async () => {
    await openSettings(owner, 'Members');
    await owner.page.getByRole('button', { name: `Kick ${member.name}` }).click();
    await owner.page.getByRole('dialog', { name: `Kick ${member.name}?` }).getByRole('button', { name: 'Kick' }).click();
    await owner.page.getByRole('button', { name: `Kick ${member.name}` }).waitFor({ state: 'detached', timeout: 5000 });
    await owner.page.getByRole('button', { name: 'Done' }).click();
    // The server disappears from the member's rail, and its page says so.
    await member.page.getByRole('link', { name: serverName }).waitFor({ state: 'detached', timeout: 5000 });
    await member.page.getByRole('alert').filter({ hasText: 'not a member' }).waitFor();

    await join(member);
    await composer(member.page).waitFor();
  });

  it('bans the member, who cannot come back, and lists the ban', async () => {
    await openSettings(owner, 'Members');
    await owner.page.getByRole('button', { name: `Ban ${member.name}` }).click();
    await owner.page.getByRole('dialog', { name: `Ban ${member.name}?` }).getByRole('button', { name: 'Ban' }).click();
    await owner.page.getByRole('button', { name: `Ban ${member.name}` }).waitFor({ state: 'detached', timeout: 5000 });
    await owner.page.getByRole('tab', { name: 'Bans' }).click();
    await owner.page.getByRole('list', { name: 'Bans' }).getByText(member.name).waitFor();
    await screenshot(owner.page, 'settings-bans-1280');
    await owner.page.getByRole('button', { name: 'Done' }).click();

    await member.page.getByRole('link', { name: serverName }).waitFor({ state: 'detached', timeout: 5000 });
    await join(member);
    await member.page.getByRole('dialog', { name: 'Join a server' }).getByRole('alert').waitFor({ timeout: 5000 });
    await member.page.getByRole('button', { name: 'Cancel' }).click();
  });

  it('fits a phone', async () => {
    const phone = await browser.newContext({ baseURL: baseUrl, viewport: PHONE, storageState: await owner.context.storageState() });
    const page = await phone.newPage();
    await page.goto('/');
    await page.getByRole('button', { name: 'Open navigation' }).click();
    await page.getByRole('link', { name: serverName }).click();
    await page.getByRole('button', { name: 'Open navigation' }).click();
    await page.getByRole('button', { name: 'Server settings' }).click();
    await page.getByRole('tab', { name: 'Roles' }).click();
    await page.getByRole('region', { name: 'Role Moderators' }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
    await screenshot(page, 'settings-roles-390');
    await phone.close();
  });
});
