// The example end to end, in headless Chromium (Debian's `chromium`, driven
// by playwright-core): `next build`, then `sb-cookie-proxy demo --app URL`
// (the stand-in Supabase and the proxy, PROXY_APP_URL = the example's
// `next start`), and the browser talks only to the proxy's origin.
//
// SBP_EXAMPLE_SERVER=dev runs the same tests under `next dev` instead
// (no build; Next's hot-reload WebSocket then goes through the proxy too).
//
// Binaries come from $SBP_BIN_DIR (default ../../target/debug from the
// example). Screenshots go to a temporary folder, or to $SBP_SCREENSHOT_DIR.
// SBP_EXAMPLE_LOGS=1 echoes the children's output. CHROMIUM picks another
// browser binary.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const EXAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN_DIR = path.resolve(process.env.SBP_BIN_DIR ?? path.join(EXAMPLE, '../../target/debug'));
const PROXY_BIN = path.join(BIN_DIR, 'sb-cookie-proxy');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const START_TIMEOUT_MS = 60_000;
const PASSWORD = 'example-password-1';

/**
 * Whether this sb-cookie-proxy knows PROXY_APP_URL: a config file naming it
 * is refused as an "unknown setting" by a build without the front door (and
 * refused for the missing SUPABASE_URL by one with it).
 */
function binaryHasFrontDoor() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sbp-probe-'));
  const file = path.join(dir, 'probe.toml');
  writeFileSync(file, 'PROXY_APP_URL = "http://127.0.0.1:9"\n');
  const run = spawnSync(PROXY_BIN, ['--config', file], { env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 20_000 });
  if (run.error) throw run.error;
  return !`${run.stdout}${run.stderr}`.includes('PROXY_APP_URL: unknown setting');
}

if (!existsSync(PROXY_BIN)) {
  throw new Error(`${PROXY_BIN} not found: build it (cargo build -p sb-cookie-proxy) and set SBP_BIN_DIR to its folder`);
}
const frontDoor = binaryHasFrontDoor();
const skip = frontDoor
  ? false
  : `${PROXY_BIN} has no front door (PROXY_APP_URL is unknown to it): the example cannot run behind it`;

/** A port that was free a moment ago (bound on port 0, then released). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Spawns a child and resolves with its output so far once `ready(text)` is true. */
function start(name, file, args, options, ready) {
  const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const lines = [];
  const started = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in ${START_TIMEOUT_MS} ms:\n${lines.join('\n')}`)), START_TIMEOUT_MS);
    const onLine = (line) => {
      lines.push(line);
      if (process.env.SBP_EXAMPLE_LOGS) process.stderr.write(`[${name}] ${line}\n`);
      if (ready(lines.join('\n'))) {
        clearTimeout(timer);
        resolve(lines.join('\n'));
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.once('exit', (code, signal) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}):\n${lines.join('\n')}`));
    });
  });
  started.catch(() => {});
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3_000).unref();
    });
  return { started, stop, lines };
}

let proxy;
let app;
let browser;
let origin;
let stubUrl;
let serviceKey;
let shots;
let user;

before(async () => {
  if (skip) return;
  const dev = process.env.SBP_EXAMPLE_SERVER === 'dev';
  const build = dev ? { status: 0 } : spawnSync(process.execPath, ['node_modules/next/dist/bin/next', 'build'], {
    cwd: EXAMPLE,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
    encoding: 'utf8',
  });
  assert.equal(build.status, 0, `next build failed:\n${build.stdout}\n${build.stderr}`);

  const [proxyPort, appPort] = [await freePort(), await freePort()];
  origin = `http://127.0.0.1:${proxyPort}`;
  proxy = start(
    'proxy',
    PROXY_BIN,
    ['demo', '--app', `http://127.0.0.1:${appPort}`],
    {
      env: {
        PATH: process.env.PATH,
        RUST_LOG: 'warn',
        PROXY_LISTEN: `127.0.0.1:${proxyPort}`,
        PROXY_SESSION_STORE: 'memory:',
      },
    },
    (text) => text.includes(`sb-cookie-proxy listening on ${origin}`),
  );
  const printed = await proxy.started;
  stubUrl = printed.match(/in front of a stand-in Supabase at (http:\/\/[^\s]+?)\.?\n/)[1];
  serviceKey = printed.match(/-H 'apikey: ([^']+)'/)[1];

  app = start(
    'next',
    process.execPath,
    ['node_modules/next/dist/bin/next', dev ? 'dev' : 'start', '-p', String(appPort), '-H', '127.0.0.1'],
    { cwd: EXAMPLE, env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', PROXY_PUBLIC_URL: origin } },
    (text) => /Ready in/.test(text),
  );
  await app.started;

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  shots = process.env.SBP_SCREENSHOT_DIR ?? mkdtempSync(path.join(os.tmpdir(), 'sbp-nextjs-'));
  mkdirSync(shots, { recursive: true });
  // The user most tests sign in as (the sign-up test makes its own).
  user = { email: `nextjs-${process.pid}-${Date.now()}@example.com`, password: PASSWORD };
  const created = await fetch(`${stubUrl}/auth/v1/signup`, {
    method: 'POST',
    headers: { apikey: serviceKey, authorization: `Bearer ${serviceKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(user),
  });
  assert.equal(created.status, 200, await created.text());
});

after(async () => {
  if (shots) process.stdout.write(`screenshots in ${shots}\n`);
  await browser?.close();
  await app?.stop();
  await proxy?.stop();
});

const shot = (page, name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

/** Opens `p` and waits until the page is hydrated (no request in flight). */
async function open(page, p) {
  const response = await page.goto(origin + p, { waitUntil: 'networkidle' });
  return response;
}

async function signInWithPassword(page, next, { email, password }) {
  await open(page, `/signin?next=${encodeURIComponent(next)}`);
  await page.fill('#password-form input[name=email]', email);
  await page.fill('#password-form input[name=password]', password);
  await page.click('#password-form button');
  await page.waitForURL(`${origin}${next}`);
}

test('a protected page sends a signed-out visitor to sign in, and a forged identity changes nothing', { skip }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const home = await open(page, '/');
  assert.match(await home.text(), /data-variant="public"/);
  await open(page, '/dashboard');
  assert.equal(page.url(), `${origin}/signin?next=%2Fdashboard`);
  await shot(page, 'signin');
  // The signed-in variant by its own URL: the public page.
  await open(page, '/signed-in');
  assert.equal(page.url(), `${origin}/`);
  assert.equal(await page.getAttribute('header', 'data-variant'), 'public');

  const forged = await context.request.get(`${origin}/dashboard`, {
    headers: { 'x-supabase-identity': 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2ln' },
    maxRedirects: 0,
  });
  assert.equal(forged.status(), 307);
  assert.equal(new URL(forged.headers().location, origin).pathname, '/signin');
  const me = await context.request.get(`${origin}/api/me`);
  assert.equal(me.status(), 401);
  await context.close();
});

test('sign up, then the protected page comes back with the user in its first HTML', { skip }, async () => {
  const newcomer = { email: `signup-${process.pid}-${Date.now()}@example.com`, password: PASSWORD };
  const context = await browser.newContext();
  const page = await context.newPage();
  await open(page, '/signup');
  await page.fill('#signup-form input[name=email]', newcomer.email);
  await page.fill('#signup-form input[name=password]', newcomer.password);
  await page.click('#signup-form button');
  await page.waitForURL(`${origin}/dashboard`);
  assert.equal(await page.textContent('#dashboard'), 'Dashboard');
  await page.click('#signout');
  await page.waitForURL(`${origin}/`);

  // Signed out: the profile asks for a sign-in and comes back to it.
  await open(page, '/profile');
  assert.equal(page.url(), `${origin}/signin?next=%2Fprofile`);
  await page.fill('#password-form input[name=email]', newcomer.email);
  await page.fill('#password-form input[name=password]', newcomer.password);
  await page.click('#password-form button');
  await page.waitForURL(`${origin}/profile`);

  // The first response's HTML, before any script ran: server-rendered user,
  // and the signed-in variant of the static home page.
  const profile = await page.goto(`${origin}/profile`);
  const html = await profile.text();
  assert.ok(html.includes(`<strong id="email">${newcomer.email}</strong>`), html);
  assert.match(html, /data-variant="signed-in"/);
  await shot(page, 'profile');
  const home = await (await page.goto(`${origin}/`)).text();
  assert.match(home, /data-variant="signed-in"/);
  assert.match(home, /Welcome back/);
  assert.doesNotMatch(home, /data-variant="public"/);

  const me = await context.request.get(`${origin}/api/me`);
  assert.equal(me.status(), 200);
  const body = await me.json();
  assert.equal(body.user.email, newcomer.email);
  assert.equal(body.user.role, 'authenticated');
  assert.equal(body.user.iss, origin);
  assert.ok(body.user.exp - body.user.iat <= 60, JSON.stringify(body.user));
  assert.equal(typeof body.user.sid, 'string');

  // Signed in, the sign-in page goes on to `next`, if it is a path here.
  for (const [next, to] of [['/dashboard', '/dashboard'], ['//evil.example/x', '/'], ['https://evil.example/', '/']]) {
    const res = await context.request.get(`${origin}/signin?next=${encodeURIComponent(next)}`, { maxRedirects: 0 });
    assert.equal(res.status(), 307, next);
    assert.equal(new URL(res.headers().location, origin).href, `${origin}${to}`, next);
  }
  await context.close();
});

test('OAuth through /edge/v1/authorize lands on the page signed in', { skip }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await open(page, '/signin?next=%2Fprofile');
  await page.click('#oauth');
  await page.waitForURL(`${origin}/profile`);
  assert.equal(await page.textContent('#email'), 'github-user@example.com');
  await context.close();
});

test('an email link through /edge/v1/confirm lands on the page signed in', { skip }, async () => {
  const res = await fetch(`${stubUrl}/auth/v1/admin/generate_link`, {
    method: 'POST',
    headers: { apikey: serviceKey, authorization: `Bearer ${serviceKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'magiclink', email: 'demo@example.com' }),
  });
  assert.equal(res.status, 200);
  const { hashed_token: hash } = await res.json();
  const context = await browser.newContext();
  const page = await context.newPage();
  const landed = await page.goto(`${origin}/edge/v1/confirm?token_hash=${hash}&type=magiclink&next=/profile`);
  assert.equal(page.url(), `${origin}/profile`);
  assert.ok((await landed.text()).includes('<strong id="email">demo@example.com</strong>'));
  await context.close();
});

test('the account page lists the sessions, and revoking another one signs that browser out', { skip }, async () => {
  const mine = await browser.newContext();
  const other = await browser.newContext();
  const page = await mine.newPage();
  const otherPage = await other.newPage();
  await signInWithPassword(page, '/account', user);
  await signInWithPassword(otherPage, '/dashboard', user);
  const otherSid = (await (await other.request.get(`${origin}/api/me`)).json()).user.sid;

  await open(page, '/account');
  const row = page.locator(`#sessions tr[data-session="${otherSid}"]`);
  await row.waitFor();
  assert.equal(await page.locator('#sessions tr[data-current="true"]').count(), 1);
  await shot(page, 'account');
  await row.locator('button').click();
  await row.waitFor({ state: 'detached' });

  await otherPage.goto(`${origin}/dashboard`);
  assert.equal(otherPage.url(), `${origin}/signin?next=%2Fdashboard`);
  assert.equal((await other.request.get(`${origin}/api/me`)).status(), 401);
  await other.close();
  await mine.close();
});

test('a Realtime broadcast from one page reaches another', { skip }, async () => {
  const context = await browser.newContext();
  const first = await context.newPage();
  const sockets = [];
  const hotReload = new Promise((resolve) => {
    first.on('websocket', (socket) => {
      sockets.push(socket.url());
      if (new URL(socket.url()).pathname.startsWith('/_next/')) socket.once('framereceived', resolve);
    });
  });
  await signInWithPassword(first, '/realtime', user);
  const second = await context.newPage();
  await open(second, '/realtime');
  for (const page of [first, second]) {
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'SUBSCRIBED');
  }
  assert.ok(
    sockets.some((url) => url.startsWith(`${origin.replace('http', 'ws')}/realtime/v1/websocket?`)),
    `Realtime goes to the page's origin: ${sockets.join(', ')}`,
  );
  if (process.env.SBP_EXAMPLE_SERVER === 'dev') {
    // Next's hot reload, through the proxy's front door.
    await hotReload;
  }
  const text = `hello ${Date.now()}`;
  await first.fill('#broadcast-form input[name=text]', text);
  await first.click('#broadcast-form button');
  await second.locator('#messages li', { hasText: text }).waitFor();
  await shot(second, 'realtime');
  await context.close();
});

test('sign-out ends the session: the public page again, and /api/me is 401', { skip }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signInWithPassword(page, '/dashboard', user);
  await page.click('#signout');
  await page.waitForURL(`${origin}/`);
  assert.equal(await page.getAttribute('header', 'data-variant'), 'public');
  assert.equal((await context.request.get(`${origin}/api/me`)).status(), 401);
  await open(page, '/dashboard');
  assert.equal(page.url(), `${origin}/signin?next=%2Fdashboard`);
  await context.close();
});
