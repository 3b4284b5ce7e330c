// Adding a bot to a server through the real stack, the way a bot's developer asks:
// an application made through the API, its authorization link (Discord's format,
// which the API redirects to the client's page), a server picked, Authorize, and the
// bot among the server's members. A manager asking for more than they hold is told
// why not; a signed-out person comes back to the link after signing in.

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { accessibilityViolations, createServer, launch, person, register, rest, screenshot, signIn, type Person } from './browser';

const run = Date.now().toString(36).slice(-6);
const baseUrl = inject('baseUrl');
const serverName = `Bots ${run}`;
/** View Channels and Send Messages. */
const CHAT = ((1n << 10n) | (1n << 11n)).toString();
const ADMINISTRATOR = (1n << 3n).toString();
const MANAGE_GUILD = 1n << 5n;
let browser: Browser;
let owner: Person;
let manager: Person;
let guildId = '';
let channelId = '';
/** An application's id, which is its bot's, and the bot's name as shown. */
interface Application {
  id: string;
  botName: string;
}
let helper: Application;
let admin: Application;

/** A new application made by `who`, once its bot is on the read side. */
async function makeApplication(who: Person, name: string): Promise<Application> {
  const { id } = await rest<{ id: string }>(who, 'POST', '/applications', { name });
  type Bot = { username: string; global_name?: string | null };
  const bot = () => rest<Bot>(who, 'GET', `/users/${id}`).catch(() => null);
  await expect.poll(bot, { timeout: 10_000 }).not.toBeNull();
  const found = await bot();
  return { id, botName: found?.global_name ?? found?.username ?? '' };
}

function botLink(clientId: string, permissions: string): string {
  return `/oauth2/authorize?${new URLSearchParams({ client_id: clientId, scope: 'bot', permissions }).toString()}`;
}

beforeAll(async () => {
  browser = await launch();
  owner = await person(browser, baseUrl, `bea_${run}`);
  manager = await person(browser, baseUrl, `max_${run}`);
});

afterAll(async () => {
  await browser.close();
});

describe('adding a bot to a server', () => {
  it('follows the bot link, picks the server, authorizes, and sees the bot among the members', async () => {
    await register(owner);
    [, , guildId = '', channelId = ''] = (await createServer(owner, serverName)).split('/');
    helper = await makeApplication(owner, `Helper ${run}`);
    const { botName } = helper;

    const { page } = owner;
    await page.goto(botLink(helper.id, CHAT));
    // The API sends Discord's link on to the client's page.
    await page.waitForURL(/\/oauth2\/bot\?/);
    const screen = page.getByRole('region', { name: 'Add a bot' });
    await screen.getByRole('heading', { name: botName }).waitFor();
    const asked = screen.getByRole('list', { name: `This will allow ${botName} to:` });
    expect(await asked.getByRole('listitem').allTextContents()).toEqual(['View Channels', 'Send Messages']);
    const authorize = screen.getByRole('button', { name: 'Authorize' });
    expect(await authorize.isDisabled()).toBe(true);
    await screen.getByLabel('Add to server').selectOption({ label: serverName });
    await screenshot(page, 'add-bot-1280');
    expect(await accessibilityViolations(page)).toEqual([]);
    await authorize.click();

    await screen.getByRole('status').filter({ hasText: `Added ${botName} to ${serverName}` }).waitFor();
    await screen.getByRole('link', { name: `Open ${serverName}` }).click();
    await page.getByRole('complementary', { name: 'Members' }).getByText(botName).waitFor();

    // The same link again: that server is taken, and says why.
    await page.goto(botLink(helper.id, CHAT));
    const taken = page.getByRole('option', { name: `${serverName} (already added)` });
    await taken.waitFor({ state: 'attached' });
    expect(await taken.isDisabled()).toBe(true);
  });

  it('shows why the server refuses permissions the manager does not hold', async () => {
    await register(manager);
    const invite = await rest<{ code: string }>(owner, 'POST', `/channels/${channelId}/invites`, { max_age: 3600 });
    await rest(manager, 'POST', `/invites/${invite.code}`);
    const me = await rest<{ id: string }>(manager, 'GET', '/users/@me');
    const role = await rest<{ id: string }>(owner, 'POST', `/guilds/${guildId}/roles`, { name: 'Managers', permissions: MANAGE_GUILD.toString() });
    await rest(owner, 'PUT', `/guilds/${guildId}/members/${me.id}/roles/${role.id}`);
    // Another client's write: wait until the manager's reads show it.
    const managesServer = async () => {
      const [guild] = await rest<{ permissions: string }[]>(manager, 'GET', '/users/@me/guilds');
      return (BigInt(guild?.permissions ?? '0') & MANAGE_GUILD) !== 0n;
    };
    await expect.poll(managesServer, { timeout: 10_000 }).toBe(true);

    const { page } = manager;
    // Another bot: the helper is in the server already.
    admin = await makeApplication(manager, `Admin ${run}`);
    await page.goto(botLink(admin.id, ADMINISTRATOR));
    const screen = page.getByRole('region', { name: 'Add a bot' });
    await screen.getByLabel('Add to server').selectOption({ label: serverName });
    await screen.getByRole('button', { name: 'Authorize' }).click();
    const refusal = screen.getByRole('alert');
    await refusal.waitFor();
    expect(await refusal.textContent()).toBe('Missing Permissions');
    await screen.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForURL(/\/channels\/@me$/);
  });

  it('brings a signed-out person back to the link once signed in', async () => {
    const signedOut = await person(browser, baseUrl, manager.name);
    const link = `/oauth2/bot?client_id=${admin.id}&permissions=${CHAT}&guild_id=${guildId}&disable_guild_select=true`;
    await signIn(signedOut, undefined, link);
    expect(new URL(signedOut.page.url()).search).toBe(new URL(link, baseUrl).search);
    const screen = signedOut.page.getByRole('region', { name: 'Add a bot' });
    await screen.getByRole('heading', { name: admin.botName }).waitFor();
    // The link fixes the server, which the manager manages: chosen, and not changeable.
    const picker = screen.getByLabel('Add to server');
    expect(await picker.isDisabled()).toBe(true);
    expect(await picker.locator('option:checked').textContent()).toBe(serverName);
    await signedOut.context.close();
  });
});
