// Accessibility through the real stack: axe-core's WCAG A and AA rules on the main
// screens and dialogs, and a message's actions reached and used with the keyboard
// alone, with the focus visible on the way.

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { accessibilityViolations, composer, createServer, launch, messages, person, PHONE, register, send, type Person } from './browser';

const run = Date.now().toString(36).slice(-6);
const baseUrl = inject('baseUrl');
let browser: Browser;
let kim: Person;

beforeAll(async () => {
  browser = await launch();
  kim = await person(browser, baseUrl, `kim_${run}`);
});

afterAll(async () => {
  await browser.close();
});

/** The focused element draws an outline or a ring. */
function focusVisible(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const element = document.activeElement;
    if (element === null) return false;
    const style = getComputedStyle(element);
    return (style.outlineStyle !== 'none' && style.outlineWidth !== '0px') || style.boxShadow !== 'none';
  });
}

describe('accessibility', () => {
  it('the sign-in screen breaks no WCAG A/AA rule', async () => {
    const signedOut = await person(browser, baseUrl, 'nobody');
    await signedOut.page.goto('/');
    await signedOut.page.getByRole('button', { name: 'Log in' }).waitFor();
    expect(await accessibilityViolations(signedOut.page)).toEqual([]);
    await signedOut.context.close();
  });

  it('the chat, its dialogs and the mention list break no WCAG A/AA rule', async () => {
    await register(kim);
    await createServer(kim, `Access ${run}`);
    const { page } = kim;
    await send(page, `hello **world** ${run}`);
    await messages(page, `hello world ${run}`).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);

    await composer(page).pressSequentially('@');
    await page.getByRole('listbox', { name: 'Members' }).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
    await composer(page).press('Escape');
    await composer(page).fill('');

    for (const opener of ['Notifications', 'Pinned messages', 'Server settings']) {
      await page.getByRole('button', { name: opener }).first().click();
      const dialog = page.getByRole('dialog');
      await dialog.waitFor();
      expect(await accessibilityViolations(page), opener).toEqual([]);
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
    }
  });

  it("reaches a message's actions with the keyboard alone, the focus visible on the way", async () => {
    const { page } = kim;
    const row = messages(page, `hello world ${run}`);
    // From the composer, back up to the message itself.
    await composer(page).focus();
    for (let step = 0; step < 10 && !(await row.evaluate((element) => element === document.activeElement)); step++) {
      await page.keyboard.press('Shift+Tab');
    }
    expect(await row.evaluate((element) => element === document.activeElement)).toBe(true);
    expect(await focusVisible(page)).toBe(true);
    // Its toolbar follows it in the tab order.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Add reaction');
    expect(await focusVisible(page)).toBe(true);
    // The picker opens with the focus on its first reaction.
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('React with 👍');
    await page.keyboard.press('Enter');
    await row.getByRole('button', { name: '👍, 1 reaction', pressed: true }).waitFor({ timeout: 5000 });
  });

  it('the phone layout, its navigation drawer open, breaks no WCAG A/AA rule', async () => {
    const phone = await browser.newContext({ baseURL: baseUrl, viewport: PHONE, storageState: await kim.context.storageState() });
    const page = await phone.newPage();
    await page.goto('/');
    await page.getByRole('button', { name: 'Open navigation' }).click();
    await page.getByRole('link', { name: `Access ${run}` }).click();
    await messages(page, `hello world ${run}`).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Open navigation' }).click();
    await page.getByRole('navigation', { name: 'Servers' }).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
    await phone.close();
  });
});

