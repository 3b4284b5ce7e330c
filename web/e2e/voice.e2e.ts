// Voice through the real stack and the SFU: two people join a server's voice
// channel from the sidebar, each sees the other in it, and each browser receives the
// other's microphone (Chromium's fake device: a tone) through the SFU; one's camera
// shows on the other's screen. Muting, deafening and disconnecting work from the panel.

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { createServer, launch, person, register, rest, screenshot, type Person } from './browser';

const run = Date.now().toString(36).slice(-6);
const baseUrl = inject('baseUrl');
const serverName = `Voice ${run}`;
let browser: Browser;
let ann: Person;
let ben: Person;

beforeAll(async () => {
  browser = await launch();
  ann = await person(browser, baseUrl, `ann_${run}`);
  ben = await person(browser, baseUrl, `ben_${run}`);
});

afterAll(async () => {
  await browser.close();
});

/** Whether the page plays someone's audio that is arriving (a remote track is
 * muted until its first packets come). */
function hearsSomeone(page: Page): Promise<boolean> {
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLAudioElement>('audio[data-voice="remote"]')].some((player) =>
      (player.srcObject as MediaStream | null)?.getAudioTracks().some((track) => track.readyState === 'live' && !track.muted),
    ),
  );
}

describe('voice', () => {
  it('two people in a voice channel hear each other through the SFU', async () => {
    await register(ann);
    await register(ben);
    const [, , guildId = ''] = (await createServer(ann, serverName)).split('/');
    const lounge = await rest<{ id: string }>(ann, 'POST', `/guilds/${guildId}/channels`, { name: 'lounge', type: 2 });
    const invite = await rest<{ code: string }>(ann, 'POST', `/channels/${lounge.id}/invites`, { max_age: 3600 });
    await rest(ben, 'POST', `/invites/${invite.code}`);

    for (const who of [ann, ben]) {
      await who.page.goto(`/channels/${guildId}`);
      await who.page.getByRole('button', { name: /^lounge \(voice channel/ }).click();
      await who.page.getByRole('status').filter({ hasText: 'Voice connected' }).waitFor({ timeout: 30_000 });
    }
    for (const [who, other] of [
      [ann, ben],
      [ben, ann],
    ] as const) {
      const people = who.page.getByRole('list', { name: 'In lounge' }).first();
      await people.getByText(other.name).waitFor();
      await expect.poll(() => hearsSomeone(who.page), { timeout: 20_000 }).toBe(true);
    }

    // The fake microphone beeps: the SFU's audio-level notices light Ann up on Ben's side.
    await ben.page.locator('.voice-people li.speaking').filter({ hasText: ann.name }).waitFor({ timeout: 20_000 });

    // Ann's camera: her own tile, then Ben's tile of her, playing (frames decoded).
    await ann.page.getByRole('button', { name: 'Turn on camera' }).click();
    await ann.page.getByRole('figure').filter({ hasText: 'You' }).waitFor();
    const annOnBen = ben.page.getByLabel(`${ann.name}'s video`);
    await annOnBen.waitFor({ timeout: 20_000 });
    await expect.poll(() => annOnBen.evaluate((video: HTMLVideoElement) => video.videoWidth), { timeout: 20_000 }).toBeGreaterThan(0);
    await screenshot(ben.page, 'voice-video-1280');
    await ann.page.getByRole('button', { name: 'Turn off camera' }).click();
    await ann.page.getByRole('figure').filter({ hasText: 'You' }).waitFor({ state: 'detached' });

    // Deafened, Ben plays nobody's audio.
    const playsNothing = () =>
      ben.page.evaluate(() => [...document.querySelectorAll<HTMLAudioElement>('audio[data-voice="remote"]')].every((player) => player.muted));
    await ben.page.getByRole('button', { name: 'Deafen' }).click();
    expect(await playsNothing()).toBe(true);
    await ben.page.getByRole('button', { name: 'Undeafen' }).click();
    expect(await playsNothing()).toBe(false);

    await ann.page.getByRole('button', { name: 'Mute' }).click();
    await ann.page.getByRole('button', { name: 'Unmute', pressed: true }).waitFor();
    // Through op 4: Ben sees it.
    await ben.page.getByRole('region', { name: 'Voice', exact: true }).getByText(`${ann.name} (muted)`).waitFor({ timeout: 10_000 });

    // Ben leaves: Ann sees him go, and his panel offers to join again.
    await ben.page.getByRole('button', { name: 'Disconnect' }).click();
    await ben.page.getByRole('button', { name: 'Join voice' }).waitFor();
    await ann.page.getByRole('list', { name: 'In lounge' }).first().getByText(ben.name).waitFor({ state: 'detached', timeout: 10_000 });
  });
});
