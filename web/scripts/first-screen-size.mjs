// The JavaScript the first screen loads, gzipped: the entry script of dist/index.html
// and every module it preloads. Fails past the budget, so growth is a decision.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET_BYTES = 300 * 1024;
const dist = resolve(import.meta.dirname, '../dist');
const html = readFileSync(resolve(dist, 'index.html'), 'utf8');
const scripts = [...html.matchAll(/<(?:script[^>]*\bsrc|link[^>]*rel="modulepreload"[^>]*\bhref)="([^"]+\.js)"/g)].map(
  (match) => match[1],
);
let total = 0;
for (const script of scripts) {
  const gzipped = gzipSync(readFileSync(resolve(dist, `.${script}`)), { level: 9 }).length;
  total += gzipped;
  console.log(`${script}: ${(gzipped / 1024).toFixed(1)} KiB gzipped`);
}
console.log(`first screen JavaScript: ${(total / 1024).toFixed(1)} KiB gzipped (budget ${BUDGET_BYTES / 1024} KiB)`);
if (scripts.length === 0 || total > BUDGET_BYTES) process.exit(1);
