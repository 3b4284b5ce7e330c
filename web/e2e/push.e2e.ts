// Web Push in the browser: the client registers its service worker, which shows a
// push from CloudCord as a notification (and nothing for a push it cannot read).
// Chromium cannot subscribe here (its push service is Google's, out of reach), so
// the test delivers the push through the DevTools protocol, as the push service
// would after decrypting it; the server's side, encryption included, is checked by
// the gateway's push tests, which decrypt what they receive.

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { launch, person, register, type Person } from './browser';

const run = Date.now().toString(36).slice(-6);
const baseUrl = inject('baseUrl');
let browser: Browser;
let kim: Person;

beforeAll(async () => {
  browser = await launch();
  kim = await person(browser, baseUrl, `pia_${run}`);
});

afterAll(async () => {
  await browser.close();
});

const PUSH = {
  type: 'message',
  message_id: '300',
  channel_id: '200',
  guild_id: null,
  author: { id: '7', username: 'kim', global_name: 'Kim' },
  title: 'Kim',
  body: `are you there? ${run}`,
  url: '/channels/@me/200',
  reason: 'dm',
};

describe('web push', () => {
  it("the client's service worker shows a push as a notification", async () => {
    const { context, page } = kim;
    await context.grantPermissions(['notifications'], { origin: new URL(baseUrl).origin });
    await register(kim);
    const script = await page.evaluate(async () => (await navigator.serviceWorker.ready).active?.scriptURL);
    expect(script).toBe(new URL('/sw.js', baseUrl).href);

    const cdp = await context.newCDPSession(page);
    const scope = new URL('/', baseUrl).href;
    const registrationId = new Promise<string>((resolve) => {
      cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
        const ours = registrations.find((registration) => registration.scopeURL === scope && !registration.isDeleted);
        if (ours !== undefined) resolve(ours.registrationId);
      });
    });
    await cdp.send('ServiceWorker.enable');
    const deliver = async (data: string) => {
      await cdp.send('ServiceWorker.deliverPushMessage', {
        origin: new URL(baseUrl).origin,
        registrationId: await registrationId,
        data,
      });
    };
    const shown = () =>
      page.evaluate(async () =>
        (await (await navigator.serviceWorker.ready).getNotifications()).map(({ title, body, tag }) => ({ title, body, tag })),
      );

    await deliver(JSON.stringify({ ...PUSH, type: 'call' }));
    await deliver('not json');
    // Polled from right after the push, Chromium now and then lost the notification
    // from getNotifications() for good (4 of 26 runs here, with the push
    // delivered and showNotification resolved, checked in the worker): reading the
    // list while the worker shows it seems to race. So the list is read before the
    // push and then once a second; were it still empty, the push comes again (a push
    // may come more than once, and its tag keeps it one notification). In 44 runs so,
    // none failed and none needed the second push.
    await expect
      .poll(
        async () => {
          const now = await shown();
          if (now.length === 0) await deliver(JSON.stringify(PUSH));
          return now;
        },
        { timeout: 15_000, interval: 1_000 },
      )
      .toEqual([{ title: 'Kim', body: `are you there? ${run}`, tag: '300' }]);
  });
});
