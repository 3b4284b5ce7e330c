// Two headless Chromium instances with fake camera and microphone join one voice
// channel through the SFU and must each receive the other's audio and video:
// getStats() shows decoded video frames and audio packets, with under 1% loss.
//
//   node two_peers.mjs <sfu base URL> <token A> <token B>
//
// With RELAY=1 every browser sends only through the SFU's TURN server (and the
// report says which candidate type carried the call). With SIMULCAST=1 each sends
// its camera in three simulcast layers (the report counts those it sends).
//
// Prints one JSON line per browser with what it received; exits non-zero on failure.
// playwright-core comes from PLAYWRIGHT_CORE or the repository's web/node_modules;
// the browser from CHROMIUM or /usr/bin/chromium (never downloaded).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { chromium } = require(
  process.env.PLAYWRIGHT_CORE ?? resolve(here, '../../../web/node_modules/playwright-core'),
);

const [base, ...tokens] = process.argv.slice(2);
const page = readFileSync(resolve(here, 'page.html'), 'utf8');
const DEADLINE_MS = 30_000;

async function person(token, name) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection',
    ],
  });
  const tab = await browser.newPage();
  tab.on('pageerror', (error) => console.error(`[${name}] ${error.message}`));
  // The page is served at the SFU's origin, so its signalling fetch is same-origin.
  await tab.route(`${base}/test`, (route) => route.fulfill({ contentType: 'text/html', body: page }));
  await tab.goto(`${base}/test`);
  const options = { relay: process.env.RELAY === '1', simulcast: process.env.SIMULCAST === '1' };
  await tab.evaluate(([t, o]) => join(t, o), [token, options]);
  return { browser, tab, name };
}

function good(stats) {
  const lossOf = (k) => stats[k].lost / Math.max(1, stats[k].lost + stats[k].packets);
  return stats.video.frames > 0 && stats.audio.packets > 0 && lossOf('audio') < 0.01 && lossOf('video') < 0.01;
}

const people = [];
let ok = false;
try {
  for (const [index, token] of tokens.entries()) people.push(await person(token, `peer${index}`));
  const started = Date.now();
  let stats = [];
  while (Date.now() - started < DEADLINE_MS) {
    await new Promise((done) => setTimeout(done, 1000));
    stats = await Promise.all(people.map(({ tab }) => tab.evaluate(() => inbound())));
    // Past the first frames, so loss is measured over a few seconds of media.
    if (stats.every(good) && stats.every((s) => s.video.frames > 30)) {
      ok = true;
      break;
    }
  }
  const paths = await Promise.all(people.map(({ tab }) => tab.evaluate(() => path())));
  for (const [index, s] of stats.entries()) console.log(JSON.stringify({ peer: index, path: paths[index], ...s }));
} catch (error) {
  console.error(error);
} finally {
  for (const { browser } of people) await browser.close();
}
process.exit(ok ? 0 : 1);
