// Debian's Chromium driven by playwright-core (no browser download), and the steps
// a person takes in the client, by role and label as assistive technology sees them.

import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';

import { AxeBuilder } from '@axe-core/playwright';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

import { ARTIFACTS } from './stack';

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    // The machine's network reaches only package registries: no background
    // connections, no update checks.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Voice: a fake microphone (a tone) that needs no permission prompt.
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

export interface Person {
  context: BrowserContext;
  page: Page;
  name: string;
}

export async function person(browser: Browser, baseUrl: string, name: string, viewport = DESKTOP): Promise<Person> {
  const context = await browser.newContext({ baseURL: baseUrl, viewport });
  const page = await context.newPage();
  page.on('pageerror', (error) => {
    console.error(`[${name}] page error: ${error.message}`);
  });
  page.on('console', (message) => {
    if (message.type() === 'error') console.error(`[${name}] console: ${message.text()}`);
  });
  return { context, page, name };
}

/** Registers through the login screen and waits for the signed-in layout. */
export async function register(who: Person, password = 'correct horse battery'): Promise<void> {
  const { page } = who;
  await page.goto('/');
  await page.getByRole('button', { name: 'Register' }).click();
  await page.getByLabel('Username').fill(who.name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Register' }).click();
  await page.getByTestId('me').filter({ hasText: who.name }).waitFor();
}

/** Signs in through the sign-in service's page (authorization code with PKCE) and
 * waits for the signed-in layout. */
export async function signIn(who: Person, password = 'correct horse battery', start = '/'): Promise<void> {
  const { page } = who;
  await page.goto(start);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(/\/oauth2\/authorize\?/);
  await page.getByLabel('Username').fill(who.name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Authorize' }).click();
  await page.getByTestId('me').filter({ hasText: who.name }).waitFor();
}

/** Creates a server through the rail's dialog; answers the path of its first text
 * channel, where it opens. */
export async function createServer(who: Person, name: string): Promise<string> {
  const { page } = who;
  await page.getByRole('button', { name: 'Create a server' }).first().click();
  await page.getByLabel('Server name').fill(name);
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await composer(page).waitFor();
  return new URL(page.url()).pathname;
}

/** The tokens the client keeps for its session. */
export async function storedTokens(page: Page): Promise<{ token: string; refresh_token: string; expires_at: number }> {
  const raw = await page.evaluate(() => localStorage.getItem('cloudcord.session'));
  return JSON.parse(raw ?? 'null') as { token: string; refresh_token: string; expires_at: number };
}

/** A REST call as `who`, with the token their client keeps; answers the JSON (and
 * fails the test on an error status). */
export async function rest<T>(who: Person, method: string, path: string, data?: unknown): Promise<T> {
  const { token } = await storedTokens(who.page);
  const response = await who.context.request.fetch(`/api/v10${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}` },
    ...(data === undefined ? {} : { data }),
  });
  if (!response.ok()) throw new Error(`${method} ${path}: ${response.status()} ${await response.text()}`);
  return (response.status() === 204 ? undefined : await response.json()) as T;
}

/** A PNG of what the page shows once settled: transitions finished, and two frames
 * drawn, so rows measured after a render are where they belong. */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = resolve(ARTIFACTS, 'screenshots');
  mkdirSync(dir, { recursive: true });
  await page.evaluate(
    () => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))),
  );
  await page.screenshot({ path: resolve(dir, `${name}.png`), animations: 'disabled' });
}

/** The WCAG 2.x A and AA rules axe-core checks: what the page shows now breaks
 * none of them, or the answer names each violation and where. */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  return violations.map(
    (violation) => `${violation.id}: ${violation.help} at ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`,
  );
}

/** The composer of the open channel. */
export function composer(page: Page) {
  return page.getByRole('textbox', { name: /^Message #/ });
}

export async function send(page: Page, text: string): Promise<void> {
  await composer(page).fill(text);
  await composer(page).press('Enter');
}

/** The message rows whose text contains `text`. */
export function messages(page: Page, text: string) {
  return page.locator('article.message').filter({ hasText: text });
}
