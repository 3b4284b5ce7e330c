// Accounts through the real provider: registering, signing in on a second device
// with the authorization code and PKCE, the access token renewed with a rotated
// refresh token, the device list, ending another device's session, and signing out
// revoking the session at the provider.

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { launch, person, PHONE, register, screenshot, signIn, storedTokens, type Person } from './browser';

const run = Date.now().toString(36).slice(-6);
const baseUrl = inject('baseUrl');
let browser: Browser;
let desktop: Person;
let phone: Person;

beforeAll(async () => {
  browser = await launch();
  desktop = await person(browser, baseUrl, `carol_${run}`);
  phone = await person(browser, baseUrl, `carol_${run}`, PHONE);
});

afterAll(async () => {
  await browser.close();
});

/** What the token endpoint answers to a refresh with `refreshToken`. */
async function refreshWith(refreshToken: string): Promise<{ status: number; error?: string }> {
  const response = await fetch(`${baseUrl}/api/v10/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'cloudcord' }),
  });
  const body = (await response.json()) as { error?: string };
  return { status: response.status, error: body.error };
}

describe('accounts', () => {
  it('signs in on a second device through the provider with the authorization code and PKCE', async () => {
    await register(desktop);
    const exchanges: string[] = [];
    phone.page.on('request', (request) => {
      if (request.url().endsWith('/api/v10/oauth2/token')) exchanges.push(request.postData() ?? '');
    });
    await phone.page.goto('/');
    await phone.page.getByRole('button', { name: 'Log in' }).click();
    await phone.page.waitForURL(/\/oauth2\/authorize\?/);
    const authorize = new URL(phone.page.url()).searchParams;
    expect(authorize.get('code_challenge_method')).toBe('S256');
    expect(authorize.get('client_id')).toBe('cloudcord');
    await screenshot(phone.page, 'sign-in-provider-390');
    await phone.page.getByLabel('Username').fill(phone.name);
    await phone.page.getByLabel('Password').fill('correct horse battery');
    await phone.page.getByRole('button', { name: 'Authorize' }).click();
    await phone.page.getByTestId('me').filter({ hasText: phone.name }).waitFor();
    // Back on the client, the callback's code is gone from the address bar.
    expect(new URL(phone.page.url()).pathname).toBe('/channels/@me');
    expect(exchanges).toHaveLength(1);
    const exchange = new URLSearchParams(exchanges[0]);
    expect(exchange.get('grant_type')).toBe('authorization_code');
    expect(exchange.get('code_verifier')).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    const tokens = await storedTokens(phone.page);
    expect(tokens.refresh_token).toBeTruthy();
  });

  it('renews the access token with a rotated refresh token', async () => {
    const before = await storedTokens(phone.page);
    // Pretend the access token is about to expire: the client renews it at once.
    await phone.page.evaluate((tokens) => {
      localStorage.setItem('cloudcord.session', JSON.stringify({ ...tokens, expires_at: Date.now() }));
    }, before);
    await phone.page.reload();
    await phone.page.getByTestId('me').filter({ hasText: phone.name }).waitFor();
    await expect.poll(async () => (await storedTokens(phone.page)).refresh_token, { timeout: 10_000 }).not.toBe(before.refresh_token);
    const after = await storedTokens(phone.page);
    expect(after.token).not.toBe(before.token);
    expect(after.expires_at).toBeGreaterThan(Date.now() + 30 * 60_000);
  });

  it('lists the devices and ends the other one', async () => {
    await desktop.page.getByRole('button', { name: 'Devices' }).click();
    const list = desktop.page.getByRole('list', { name: 'Signed-in devices' });
    await expect.poll(() => list.getByRole('listitem').count(), { timeout: 5000 }).toBe(2);
    await list.getByText('This device').waitFor();
    await screenshot(desktop.page, 'devices-1280');
    const phoneRefresh = (await storedTokens(phone.page)).refresh_token;
    await desktop.page.getByRole('button', { name: 'Sign out all other devices' }).click();
    await expect.poll(() => list.getByRole('listitem').count(), { timeout: 5000 }).toBe(1);
    await desktop.page.getByRole('button', { name: 'Done' }).click();
    // The phone's session is over: its refresh token renews nothing any more, and
    // the phone is signed out when it next renews.
    expect(await refreshWith(phoneRefresh)).toEqual({ status: 400, error: 'invalid_grant' });
    await phone.page.evaluate(() => {
      const tokens = JSON.parse(localStorage.getItem('cloudcord.session') ?? '{}') as Record<string, unknown>;
      localStorage.setItem('cloudcord.session', JSON.stringify({ ...tokens, expires_at: Date.now() }));
    });
    await phone.page.reload();
    await phone.page.getByRole('button', { name: 'Log in' }).waitFor({ timeout: 10_000 });
  });

  it('signing out revokes the session at the provider', async () => {
    const { refresh_token: refreshToken } = await storedTokens(desktop.page);
    await desktop.page.getByRole('button', { name: 'Sign out' }).click();
    await desktop.page.getByRole('button', { name: 'Log in' }).waitFor();
    expect(await storedTokens(desktop.page)).toBeNull();
    await expect.poll(() => refreshWith(refreshToken), { timeout: 5000 }).toEqual({ status: 400, error: 'invalid_grant' });
    // And the same person signs in again with the provider's page.
    await signIn(desktop);
  });
});
