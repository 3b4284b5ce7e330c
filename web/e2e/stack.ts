// Starts the real CloudCord stack for the end-to-end tests, the way a developer
// does (`cloudcord up`), but beside any `make up`: its own front door and service
// ports (free ones), and its own topics, schema and database, so it disturbs no
// other stack on the shared infrastructure. The web client it serves is this
// checkout's `web/dist`.
//
// The namespace is one per checkout (named after its path), not one per run: a run
// reuses the previous run's topics instead of leaving new ones behind on the
// shared broker, and two checkouts (branches with different migrations) never
// share one. Every run registers users with fresh names, so old data is harmless.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { TestProject } from 'vitest/node';

const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS = resolve(WEB, 'artifacts');
/** How long a debug build may take to accept its first registration (a fresh
 * broker creates its transaction log first). */
const START_TIMEOUT_MS = 300_000;

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

async function waitUntilUp(baseUrl: string, child: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    // A fresh name each time: an attempt that timed out may still register its own.
    const probe = { username: `probe_${Date.now().toString(36)}_${attempt}`, password: 'probe-password-1' };
    if (child.exitCode !== null) throw new Error(`cloudcord up exited with ${child.exitCode}; see ${log}`);
    try {
      // Registration goes through command-api, Kafka and the accounts projection:
      // when it answers, the write path is up.
      const response = await fetch(`${baseUrl}/api/v10/auth/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(probe),
      });
      if (response.status === 201) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((wake) => setTimeout(wake, 1000));
  }
  throw new Error(`the stack did not come up in ${START_TIMEOUT_MS / 1000} s; see ${log}`);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const binary = process.env.CLOUDCORD_BIN ?? resolve(WEB, '../target/debug/cloudcord');
  const dist = resolve(WEB, 'dist');
  if (!existsSync(binary)) throw new Error(`${binary} is missing: run \`cargo build -p cloudcord\` (or set CLOUDCORD_BIN)`);
  if (!existsSync(resolve(dist, 'index.html'))) throw new Error('web/dist is missing: run `npm run build`');

  const namespace = `web_e2e_${createHash('sha256').update(WEB).digest('hex').slice(0, 10)}`;
  const state = resolve(ARTIFACTS, 'stack');
  mkdirSync(state, { recursive: true });
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const gatewayUrl = `ws://127.0.0.1:${port}/gateway`;
  const anyPort = '127.0.0.1:0';
  const settings: Record<string, string> = {
    kafka__topic_prefix: `${namespace}.`,
    projectors__postgres_schema: namespace,
    query_api__http__postgres_schema: namespace,
    gateway_ws__http__postgres_schema: namespace,
    // Its own schemas: the gateway's tables (hand-overs, session starts, which
    // query-api reads too) and command-api's OAuth2 tables have migrations of their own.
    gateway_ws__sessions__store_schema: `${namespace}_gateway`,
    query_api__session_starts__store_schema: `${namespace}_gateway`,
    command_api__http__oauth__schema: `${namespace}_oauth`,
    // The tests seed history faster than Discord's 5 messages per 5 s in a channel;
    // the rate limits have tests of their own.
    command_api__http__rate_limits__enabled: 'false',
    mongo__database: namespace,
    command_api__processor__state_dir: state,
    auth__signing_key_path: resolve(state, 'ed25519.pem'),
    front_door__listen_addr: `127.0.0.1:${port}`,
    front_door__web_dir: dist,
    query_api__http__gateway_url: gatewayUrl,
    gateway_ws__http__resume_gateway_url: gatewayUrl,
    command_api__admin__listen_addr: anyPort,
    command_api__http__listen_addr: anyPort,
    query_api__admin__listen_addr: anyPort,
    query_api__http__listen_addr: anyPort,
    projectors__admin__listen_addr: anyPort,
    gateway_ws__admin__listen_addr: anyPort,
    gateway_ws__http__listen_addr: anyPort,
    sfu__admin__listen_addr: anyPort,
  };
  // The web client signs in at the provider of the origin it is served from, and is
  // sent back to that origin: the issuer and the first-party client's redirect URI
  // name this stack's port (a list of clients is only expressible in a file).
  const config = resolve(state, 'cloudcord.toml');
  writeFileSync(
    config,
    [
      '[auth]',
      `issuer = "${baseUrl}"`,
      '[[command_api.http.oauth.clients]]',
      'client_id = "cloudcord"',
      'name = "CloudCord"',
      `redirect_uris = ["${baseUrl}/oauth2/callback"]`,
      'first_party = true',
      '',
    ].join('\n'),
  );
  const env: NodeJS.ProcessEnv = { ...process.env, CLOUDCORD_CONFIG: config };
  // The shared infrastructure, where `make` keeps it, also when run without make.
  env.CLOUDCORD__INFRA__STATE_DIR ??= resolve(WEB, '../.cloudcord');
  env.CLOUDCORD__INFRA__CACHE_DIR ??= resolve(homedir(), '.cache/cloudcord');
  for (const [key, value] of Object.entries(settings)) env[`CLOUDCORD__${key.toUpperCase()}`] = value;

  const log = resolve(ARTIFACTS, 'stack.log');
  const output = createWriteStream(log);
  // `up` provisions the shared infrastructure when it is not running, exactly as
  // `make up` does (the infra state directory comes from the environment).
  const child = spawn(binary, ['up'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(output);
  child.stderr.pipe(output);
  const exited = new Promise<void>((done) => child.once('exit', () => { done(); }));
  try {
    await waitUntilUp(baseUrl, child, log);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  project.provide('baseUrl', baseUrl);

  return async () => {
    // As Ctrl-C on `make up`: the services stop cleanly; a stack stuck for 30 s is killed.
    child.kill('SIGTERM');
    const stuck = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(stuck);
    output.end();
  };
}
